package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/distac/distac/ffi"
)

// distac hw must report every path and pass its self-check on every backend
// this machine runs.
func TestHWSelfCheck(t *testing.T) {
	for _, name := range append([]string{"ref"}, ffi.ISAs...) {
		t.Run(name, func(t *testing.T) {
			if name != "ref" && !ffi.CPUHas(name) {
				t.Skipf("this CPU cannot run %s", name)
			}
			be, err := ffi.Open(name, 0)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if failed := printHW(&out, be, true); failed != 0 {
				t.Fatalf("%d self-checks failed:\n%s", failed, out.String())
			}
			for _, want := range []string{"path avx512", "path avx2", "path scalar", "backend    " + be.Name(), "ok   sgemm", "ok   attention", "ok   l2norm", "-> " + be.Name() + " (kernels/avx/attention"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

func TestHWForcedPathErrors(t *testing.T) {
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
