package ffi

import (
	"math"
	"strings"
	"testing"
)

// The harness must be able to fail: a write into a guard is caught.
func TestGuardsCatchOverrun(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		r := newRegion(t, be, newRNG(t), F32, 10)
		wider := Vec{Buf: r.View.Buf, Off: r.View.Off, N: 11}
		if err := be.Upload(wider, F32Bytes(make([]float32, 11))); err != nil {
			t.Fatal(err)
		}
		ft := &fakeT{}
		r.checkGuardsT(ft)
		if !ft.failed {
			t.Fatal("guard overwrite not detected")
		}
	})
}

func TestRelErrRejectsNaN(t *testing.T) {
	if e := relErr([]float32{float32(math.NaN())}, []float64{1}); !math.IsInf(e, 1) {
		t.Fatalf("relErr with NaN = %v, want +Inf", e)
	}
	if e := relErr([]float32{1, 2}, []float64{1, 2}); e != 0 {
		t.Fatalf("relErr of equal = %v", e)
	}
}

func TestViewChecks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		buf, err := be.Alloc(F32, 10)
		if err != nil {
			t.Fatal(err)
		}
		defer be.Free(buf)
		err = be.Upload(Vec{Buf: buf, Off: 5, N: 6}, make([]byte, 24))
		if err == nil || !strings.Contains(err.Error(), "outside buffer") {
			t.Fatalf("out-of-range upload: err = %v", err)
		}
		if _, err := be.Alloc(F32, -1); err == nil {
			t.Fatal("negative alloc accepted")
		}
	})
}

// fakeT records failure without stopping the real test.
type fakeT struct{ failed bool }

func (f *fakeT) Helper()               {}
func (f *fakeT) Fatalf(string, ...any) { f.failed = true }
func (f *fakeT) Fatal(...any)          { f.failed = true }

type fataler interface {
	Helper()
	Fatalf(string, ...any)
	Fatal(...any)
}
