package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distac/distac/distac/merge"
	"github.com/distac/distac/internal/testutil"
	"github.com/nlpodyssey/safetensors"
)

// memMergeOf runs an in-memory merge of base and tasks under config and
// returns the outputs by name.
func memMergeOf(t *testing.T, config string, base model, tasks []model) (map[string][]byte, []byte) {
	t.Helper()
	id, err := beginMerge(config, len(tasks))
	if err != nil {
		t.Fatal(err)
	}
	outs := map[string][]byte{}
	for i, name := range base.names {
		mt := memTensor{name: name, dtype: safetensors.F32, shape: base.shapes[i], base: f32Bytes(base.vals[i])}
		for _, tm := range tasks {
			mt.tasks = append(mt.tasks, f32Bytes(tm.vals[i]))
		}
		mt.out = make([]byte, len(mt.base))
		outs[name] = mt.out
		if err := addTensor(id, mt); err != nil {
			t.Fatal(err)
		}
	}
	js, err := finishMerge(id, nil)
	if err != nil {
		t.Fatal(err)
	}
	return outs, js
}

// TestSessionMatchesRunMerge: distac_merge_begin/add/finish over the
// tensors of files writes what distac_merge writes from the files, for
// every method.
func TestSessionMatchesRunMerge(t *testing.T) {
	dir := t.TempDir()
	base, tasks := testModels(7, 3)
	bp := base.write(t, dir, "base.safetensors")
	var tps []string
	for i, m := range tasks {
		tps = append(tps, m.write(t, dir, fmt.Sprintf("t%d.safetensors", i)))
	}
	for _, method := range merge.MethodNames() {
		t.Run(method, func(t *testing.T) {
			out := filepath.Join(dir, method+".safetensors")
			settings := fmt.Sprintf(`"method": %q, "alpha": 0.7, "backend": "ref"`, method)
			if method == merge.MethodConsensus {
				settings += `, "lambda": [0.3, 0.4, 0.5]`
			}
			if err := runMerge(fmt.Sprintf(`{%s, "base": %q, "tasks": [%q, %q, %q], "out": %q}`, settings, bp, tps[0], tps[1], tps[2], out)); err != nil {
				t.Fatal(err)
			}
			got, js := memMergeOf(t, "{"+settings+"}", base, tasks)
			c := testutil.Open(t, out)
			for _, tn := range c.Tensors {
				if string(tn.Bytes(0, tn.Numel)) != string(got[tn.Name]) {
					t.Errorf("%s: the merge in memory differs from distac_merge's file", tn.Name)
				}
			}
			if !strings.Contains(string(js), `"path": "memory:task2"`) || !strings.Contains(string(js), `"method": "`+method+`"`) {
				t.Errorf("summary:\n%s", js)
			}
		})
	}
}

// TestSessionErrors: misuse of an in-memory merge is an argument error
// naming what is wrong, a finished merge is gone, and a cancelled one
// stops with DISTAC_E_CANCELLED.
func TestSessionErrors(t *testing.T) {
	f32 := safetensors.F32
	if _, err := beginMerge(`{"method": "ties"}`, 0); classify(err) != codeArg || !strings.Contains(err.Error(), "0 tasks") {
		t.Errorf("no tasks: %v", err)
	}
	for config, want := range map[string]string{
		`{"base": "b.safetensors"}`:                    "base, tasks, out",
		`{"method": "nope"}`:                           "unknown merge method",
		`{"method": "consensus", "lambda": [1, 2, 3]}`: "3 lambdas for 2 tasks",
		`{"methd": "ta"}`:                              "unknown key",
		`{"backend": "nope"}`:                          "unknown backend",
	} {
		if _, err := beginMerge(config, 2); classify(err) != codeArg || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want DISTAC_E_ARG saying %q", config, err, want)
		}
	}
	id, err := beginMerge(`{"dtype": "bf16"}`, 2)
	if err != nil {
		t.Fatal(err)
	}
	w := func(name string, out int) memTensor {
		return memTensor{name: name, dtype: f32, shape: []uint64{2}, base: make([]byte, 8), tasks: [][]byte{make([]byte, 8), make([]byte, 8)}, out: make([]byte, out)}
	}
	for _, c := range []struct {
		t    memTensor
		want string
	}{
		{w("a", 8), "an output buffer of 8 bytes, want 4"}, // bf16 out
		{memTensor{name: "b", dtype: f32, shape: []uint64{2}, base: make([]byte, 8), tasks: [][]byte{make([]byte, 8)}, out: make([]byte, 4)}, "1 task buffers for a merge of 2 tasks"},
		{w("", 4), "needs a name"},
	} {
		if err := addTensor(id, c.t); classify(err) != codeArg || !strings.Contains(err.Error(), c.want) {
			t.Errorf("add %q: %v, want %q", c.t.name, err, c.want)
		}
	}
	if err := addTensor(id, w("a", 4)); err != nil {
		t.Fatal(err)
	}
	if err := addTensor(id, w("a", 4)); err == nil || !strings.Contains(err.Error(), "added twice") {
		t.Errorf("a tensor added twice: %v", err)
	}
	if _, err := finishMerge(id, nil); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{addTensor(id, w("c", 4)), cancelMerge(id), func() error { _, err := finishMerge(id, nil); return err }()} {
		if classify(err) != codeArg || !strings.Contains(err.Error(), "no in-memory merge") {
			t.Errorf("a finished merge: %v", err)
		}
	}
	abortMerge(id) // a no-op

	// Cancelled before finish, and from the progress callback.
	id, _ = beginMerge(`{}`, 2)
	addTensor(id, w("a", 8))
	cancelMerge(id)
	if _, err := finishMerge(id, nil); classify(err) != codeCancelled {
		t.Errorf("cancelled before finish: %v", err)
	}
	base, tasks := testModels(2, 2)
	id, _ = beginMerge(`{"method": "ties"}`, 2)
	for i, name := range base.names {
		addTensor(id, memTensor{name: name, dtype: f32, shape: base.shapes[i], base: f32Bytes(base.vals[i]),
			tasks: [][]byte{f32Bytes(tasks[0].vals[i]), f32Bytes(tasks[1].vals[i])}, out: make([]byte, 4*len(base.vals[i]))})
	}
	calls := 0
	if _, err := finishMerge(id, func(done, total int64) bool { calls++; return true }); classify(err) != codeCancelled || calls == 0 {
		t.Errorf("cancelled by progress after %d calls: %v", calls, err)
	}
	id, _ = beginMerge(`{}`, 1)
	abortMerge(id)
	if _, err := lookupMerge(id); err == nil {
		t.Error("an aborted merge is still there")
	}
	if _, err := finishMerge(0, nil); classify(err) != codeArg {
		t.Errorf("id 0: %v", err)
	}
}

// TestRunJobs: the jobs on files run, and refuse bad configs as arguments.
func TestRunJobs(t *testing.T) {
	dir := t.TempDir()
	base, tasks := testModels(3, 2)
	bp, ap, bp2 := base.write(t, dir, "base.safetensors"), tasks[0].write(t, dir, "a.safetensors"), tasks[1].write(t, dir, "b.safetensors")
	js, err := runDiagnose(fmt.Sprintf(`{"base": %q, "tasks": [%q, %q], "backend": "ref"}`, bp, ap, bp2))
	if err != nil {
		t.Fatal(err)
	}
	be, _ := merge.OpenBackend("ref")
	st, err := merge.Diagnose(context.Background(), bp, []string{ap, bp2}, merge.DiagnoseOptions{Backend: be})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := jsonText(st.Report(bp, 2, false))
	if string(js) != string(want) {
		t.Errorf("distac_diagnose:\n%s\nwant the CLI's --json:\n%s", js, want)
	}
	for name, err := range map[string]error{
		"merge yaml":     runMerge("method: [ta\n"),
		"merge no out":   runMerge(fmt.Sprintf(`{"base": %q, "tasks": [%q]}`, bp, ap)),
		"diagnose":       func() error { _, err := runDiagnose(`{"base": "b"}`); return err }(),
		"condition":      func() error { _, err := runCondition(`{"base": "b", "tasks": ["t"]}`); return err }(),
		"condition keys": func() error { _, err := runCondition(`{"bsae": "b"}`); return err }(),
	} {
		if classify(err) != codeArg {
			t.Errorf("%s: %v (code %d), want DISTAC_E_ARG", name, err, classify(err))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out.safetensors")); err == nil {
		t.Error("a refused merge wrote its output")
	}
}
