package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestConditionConfig: `condition --config` runs the job its flags would,
// to the same bits, with paths relative to the file; a flag given as well
// overrides the file.
func TestConditionConfig(t *testing.T) {
	w := newWorld(t, tinyMLP, "")
	flagsOut := filepath.Join(w.dir, "flags.safetensors")
	mustRun(t, runCondition, "--base", w.base, "--task", w.ftB, "--head", w.headB, "--data", w.trainB,
		"--out", flagsOut, "--kappa", "0.5", "--steps", "3", "--batch", "16", "--lr", "1e-3", "--threads", "1", "--quiet")
	rel := func(p string) string { return filepath.Base(p) }
	cfg := writeFile(t, w.dir, "job.yaml", "base: "+rel(w.base)+"\ntasks: ["+rel(w.ftB)+"]\nheads: "+rel(w.headB)+
		"\ndata: "+rel(w.trainB)+"\nouts: [config.safetensors]\nkappa: 0.5\nsteps: 2\nbatch: 16\nlr: 1e-3\nthreads: 1\n")
	// Run from elsewhere: the file's paths are relative to it.
	wd, _ := os.Getwd()
	if err := os.Chdir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	mustRun(t, runCondition, "--config", cfg, "--steps", "3", "--quiet")
	a, err := os.ReadFile(flagsOut)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(w.dir, "config.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("condition --config wrote other bits than the same job's flags")
	}
	mustFail(t, w.dir, runCondition, []string{"--config", writeFile(t, w.dir, "typo.yaml", "bsae: x\n")}, "typo.yaml", "bsae: unknown key")
}
