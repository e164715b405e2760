package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/distac/distac/distac/merge"
	"github.com/distac/distac/distac/train"
)

// The jobs on files: each parses its config as the CLI parses its flags or
// --config and runs the library's entry point the CLI runs, so the outputs
// are the CLI's. Relative paths are relative to the working directory.

// runMerge is distac_merge: `distac merge --config` on config's text.
func runMerge(config string) error {
	c, err := merge.ParseConfig([]byte(config), "")
	if err != nil {
		return argument(fmt.Errorf("config: %w", err))
	}
	o, notes, err := merge.OptionsFromConfig(c)
	printNotes("merge", notes)
	if err != nil {
		return argument(fmt.Errorf("config: %w", err))
	}
	if c.Mergekit && o.Out == "" {
		return argument(errors.New("config: a mergekit config names no output: add distac's out: key beside mergekit's"))
	}
	_, err = merge.Run(context.Background(), o)
	return err
}

// runDiagnose is distac_diagnose: `distac diagnose --json`.
func runDiagnose(config string) ([]byte, error) {
	c, err := merge.ParseDiagnoseConfig([]byte(config), "")
	if err != nil {
		return nil, argument(fmt.Errorf("config: %w", err))
	}
	if c.Base == "" || len(c.Tasks) == 0 {
		return nil, argument(errors.New("config: base and at least one task are required"))
	}
	be, err := merge.OpenBackend(c.Backend)
	if err != nil {
		return nil, argument(fmt.Errorf("config: %w", err))
	}
	st, err := merge.Diagnose(context.Background(), c.Base, c.Tasks, merge.DiagnoseOptions{Backend: be, Threads: c.Threads, Mismatch: c.Mismatch})
	if err != nil {
		return nil, err
	}
	return jsonText(st.Report(c.Base, c.WarnRatio, c.PerTensor))
}

// runCondition is distac_condition: `distac condition --json`.
func runCondition(config string) ([]byte, error) {
	j, err := train.ParseConditionConfig([]byte(config), "")
	if err != nil {
		return nil, argument(fmt.Errorf("config: %w", err))
	}
	if j.Base == "" || len(j.Tasks) == 0 || len(j.Heads) == 0 || len(j.Data) == 0 {
		return nil, argument(errors.New("config: base and, per task, tasks, heads and data are required"))
	}
	rep, err := train.RunConditionJob(context.Background(), *j)
	if err != nil {
		return nil, err
	}
	return jsonText(rep)
}

// jsonText is v as the CLI's --json writes it: indented by two spaces,
// with a final newline.
func jsonText(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// printNotes writes a config's notes to stderr as the CLI does.
func printNotes(cmd string, notes []string) {
	for _, n := range notes {
		fmt.Fprintf(os.Stderr, "distac %s: config: %s\n", cmd, n)
	}
}
