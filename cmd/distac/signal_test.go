package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/ffi"
	"github.com/nlpodyssey/safetensors"
)

// The test binary runs distac itself when DISTAC_TEST_CHILD holds its
// arguments (tab-separated): a real process to send signals to.
func init() {
	if args := os.Getenv("DISTAC_TEST_CHILD"); args != "" {
		os.Args = append([]string{"distac"}, strings.Split(args, "\t")...)
		main()
		os.Exit(0)
	}
}

// writeMatrices writes a model of n matrices of size x size.
func writeMatrices(t *testing.T, path string, n, size int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	var outs []checkpoint.OutTensor
	for i := range n {
		outs = append(outs, checkpoint.OutTensor{Name: fmt.Sprintf("l%d.weight", i), DType: safetensors.F32, Shape: []uint64{uint64(size), uint64(size)}})
	}
	w, err := checkpoint.Create(path, outs, nil, 0, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, size*size)
	for i := range outs {
		for k := range x {
			x[k] = float32(rng.NormFloat64())
		}
		if err := w.WriteAt(i, 0, ffi.F32Bytes(x)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

// SIGINT, SIGTERM (a scheduler's preemption) and SIGHUP stop a running
// merge at once with 128 + the signal and leave no temporary beside the
// output; a stale temporary of a process that died (kill -9) is removed by
// the next run.
func TestSignalsLeaveNoTemporaries(t *testing.T) {
	if testing.Short() {
		t.Skip("runs slow merges in child processes")
	}
	dir := t.TempDir()
	base := filepath.Join(dir, "base.safetensors")
	writeMatrices(t, base, 6, 400, 0)
	var tasks []string
	for i := range 3 {
		p := filepath.Join(dir, fmt.Sprintf("t%d.safetensors", i))
		writeMatrices(t, p, 6, 400, uint64(i+1))
		tasks = append(tasks, p)
	}
	out := filepath.Join(mkdir(t, filepath.Join(dir, "out")), "merged.safetensors")
	args := []string{"merge", "--method", "tsvm", "--base", base, "--out", out, "--threads", "1", "--quiet"}
	for _, p := range tasks {
		args = append(args, "--task", p)
	}
	start := func(old string) *exec.Cmd { // old: a file there already, not the one to wait for
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "DISTAC_TEST_CHILD="+strings.Join(args, "\t"))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The temporary output exists once the merge has started writing.
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			ents, _ := os.ReadDir(filepath.Dir(out))
			for _, e := range ents {
				if e.Name() != old {
					return cmd
				}
			}
		}
		cmd.Process.Kill()
		t.Fatal("the merge wrote no temporary output")
		return nil
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		cmd := start("")
		time.Sleep(200 * time.Millisecond)
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 128+int(sig) {
			t.Errorf("%v: exit %v, want status %d", sig, err, 128+int(sig))
		}
		if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 0 {
			t.Errorf("%v left %s", sig, ents[0].Name())
		}
	}
	// kill -9 leaves the temporary; the next run into the target removes it.
	cmd := start("")
	cmd.Process.Kill()
	cmd.Wait()
	ents, _ := os.ReadDir(filepath.Dir(out))
	if len(ents) != 1 || !strings.Contains(ents[0].Name(), ".tmp-") {
		t.Fatalf("after kill -9: %v", ents)
	}
	stale := ents[0].Name()
	cmd = start(stale) // its own temporary is there: the stale one went before
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if _, err := os.Stat(filepath.Join(filepath.Dir(out), stale)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale temporary %s of a killed run stayed: %v", stale, err)
	}
}
