package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/distac/distac/ffi"
	"github.com/distac/distac/ffi/conformance"
)

// distac hw must report every path and pass its self-check on every backend
// this machine runs.
func TestHWSelfCheck(t *testing.T) {
	conformance.ForEachBackend(t, func(t *testing.T, be ffi.Backend) {
		var out bytes.Buffer
		r := hwReport(be, true)
		printHW(&out, r)
		if r.Failed != 0 {
			t.Fatalf("%d self-checks failed:\n%s", r.Failed, out.String())
		}
		// The JSON form says the same.
		var js bytes.Buffer
		if err := writeJSON(&js, r); err != nil {
			t.Fatal(err)
		}
		var back hwInfo
		if err := json.Unmarshal(js.Bytes(), &back); err != nil {
			t.Fatal(err)
		}
		if back.Backend != be.Name() || len(back.Checks) != len(r.Checks) || len(back.Paths) != len(ffi.ISAs) {
			t.Errorf("hw --json lost fields: %s", js.String())
		}
		for _, want := range []string{"path avx512", "path avx2", "path scalar", "backend    " + be.Name(), "ok   sgemm", "ok   attention", "ok   l2norm", "-> " + be.Name() + " (kernels/avx/attention"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, out.String())
			}
		}
	})
}

func TestHWForcedPathErrors(t *testing.T) {
	if !ffi.KernelsBuilt() {
		t.Skip("built without cgo: no CPU paths to force")
	}
	t.Setenv(ffi.EnvCPU, "sse9")
	if _, err := ffi.Open("cpu", 0); err == nil || !strings.Contains(err.Error(), "DISTAC_CPU") {
		t.Fatalf("bad DISTAC_CPU: err = %v", err)
	}
	if ffi.CPUHas(ffi.ISAAVX512) {
		return
	}
	t.Setenv(ffi.EnvCPU, "avx512")
	if _, err := ffi.Open("cpu", 0); err == nil || !strings.Contains(err.Error(), "cannot run avx512") {
		t.Fatalf("DISTAC_CPU=avx512 on a CPU without it: err = %v", err)
	}
}
