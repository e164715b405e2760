package ffi

import "testing"

// Mix64 is SplitMix64's finaliser: from state 0 the generator's first
// output is the published 0xe220a8397b1dcdaf.
func TestMix64(t *testing.T) {
	if got := Mix64(golden64); got != 0xe220a8397b1dcdaf {
		t.Fatalf("Mix64(golden) = %#x, want 0xe220a8397b1dcdaf", got)
	}
	if !DareKeep(1, 2, 0) || DareKeep(1, 2, 1) {
		t.Fatal("p = 0 must keep every entry and p = 1 none")
	}
}
