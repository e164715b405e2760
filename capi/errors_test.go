package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/distac/merge"
	"github.com/distac/distac/ffi"
)

// TestClassify: the error of each kind of failure gets its distac.h code,
// from real failures of the library where they are cheap to make.
func TestClassify(t *testing.T) {
	dir := t.TempDir()
	base, tasks := testModels(1, 2)
	bp, tp := base.write(t, dir, "base.safetensors"), tasks[0].write(t, dir, "a.safetensors")
	corrupt := filepath.Join(dir, "corrupt.safetensors")
	os.WriteFile(corrupt, []byte("\xff\xff\xff\xff\xff\xff\xff\x00{"), 0o644)
	other := tasks[1]
	other.shapes = append([][]uint64{{4, 6}}, other.shapes[1:]...)
	mismatch := other.write(t, dir, "mismatch.safetensors")
	nan := tasks[1]
	nan.vals = append([][]float32{append([]float32{float32(nanValue())}, nan.vals[0][1:]...)}, nan.vals[1:]...)
	nanPath := nan.write(t, dir, "nan.safetensors")
	existing := tasks[1].write(t, dir, "exists.safetensors")

	run := func(tasks ...string) error {
		_, err := merge.Run(context.Background(), merge.Options{Method: "ta", Alpha: 1, Base: bp, Tasks: tasks,
			Out: filepath.Join(dir, "out.safetensors"), Backend: ffi.NewRef()})
		return err
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	_, cancelErr := merge.Run(cancelled, merge.Options{Method: "ta", Alpha: 1, Base: bp, Tasks: []string{tp},
		Out: filepath.Join(dir, "c.safetensors"), Backend: ffi.NewRef()})
	_, existsErr := merge.Run(context.Background(), merge.Options{Method: "ta", Alpha: 1, Base: bp, Tasks: []string{tp},
		Out: existing, Backend: ffi.NewRef()})
	for _, c := range []struct {
		name string
		err  error
		code int
	}{
		{"nil", nil, codeOK},
		{"missing file", run(filepath.Join(dir, "nope.safetensors")), codeIO},
		{"corrupt header", run(corrupt), codeInput},
		{"shape mismatch", run(mismatch), codeInput},
		{"NaN", run(nanPath), codeNumeric},
		{"cancelled", cancelErr, codeCancelled},
		{"exists", existsErr, codeExists},
		{"unknown method", errors.New("merge: unknown merge method"), codeArg},
		{"marked argument", argument(fmt.Errorf("x: %w", checkpoint.ErrMalformed)), codeArg},
		{"out of memory", fmt.Errorf("alloc: %w", ffi.ErrOutOfMemory), codeNoMem},
		{"panic", protect(func() error { panic("boom") }), codeInternal},
	} {
		if got := classify(c.err); got != c.code {
			t.Errorf("%s: classify(%v) = %d, want %d", c.name, c.err, got, c.code)
		}
	}
}

func nanValue() float64 { z := 0.0; return z / z }

// TestMessage: a message reads as the CLI prints it.
func TestMessage(t *testing.T) {
	if got := message("merge", errors.New("merge: base: x.safetensors: truncated")); got != "distac merge: base: x.safetensors: truncated" {
		t.Errorf("message = %q", got)
	}
	err := protect(func() error { var m map[int]int; m[1] = 2; return nil })
	if !strings.Contains(message("merge", err), "internal error") || !strings.Contains(err.Error(), "goroutine") {
		t.Errorf("a recovered panic says %q", err)
	}
}
