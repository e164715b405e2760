//go:build cgo

package ffi

import (
	"errors"
	"testing"
)

// TestStatus: a kernel status becomes an error in distac_status_string's
// words, out of memory is ErrOutOfMemory, and an unknown status keeps its
// number.
func TestStatus(t *testing.T) {
	if status("op", 0) != nil {
		t.Error("DISTAC_OK is an error")
	}
	for rc, want := range map[int]string{-1: "op: invalid argument", -2: "op: out of memory", -3: "op: instruction set not available",
		-10: "op: CUDA driver call failed (kernel status -10)", -12: "op: no usable CUDA device (kernel status -12)",
		-99: "op: unknown status (kernel status -99)"} {
		err := statusOf(rc)
		if err == nil || err.Error() != want {
			t.Errorf("status %d: %v, want %q", rc, err, want)
		}
		if errors.Is(err, ErrOutOfMemory) != (rc == -2) {
			t.Errorf("status %d: errors.Is(ErrOutOfMemory) = %v", rc, errors.Is(err, ErrOutOfMemory))
		}
	}
}
