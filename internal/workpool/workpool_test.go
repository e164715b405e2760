package workpool

import (
	"errors"
	"sync/atomic"
	"testing"
)

// Every job runs once, on states each made once per goroutine, and its
// error comes back in its place.
func TestEach(t *testing.T) {
	var opened, ran atomic.Int32
	bad := errors.New("job 3")
	errs := Each(10, 3, func() (int32, error) { return opened.Add(1), nil }, func(s int32, i int) error {
		ran.Add(1)
		if i == 3 {
			return bad
		}
		return nil
	})
	if len(errs) != 10 || ran.Load() != 10 || opened.Load() > 3 || opened.Load() < 1 {
		t.Fatalf("%d errors, %d jobs run, %d states opened", len(errs), ran.Load(), opened.Load())
	}
	for i, err := range errs {
		if (i == 3) != (err == bad) {
			t.Errorf("job %d: error %v", i, err)
		}
	}
}

// A goroutine whose open failed fails every job it takes with that error,
// and runs none; no workers still means one.
func TestEachOpenFails(t *testing.T) {
	noEngine := errors.New("no engine")
	errs := Each(4, 0, func() (int, error) { return 0, noEngine }, func(int, int) error {
		t.Error("a job ran without its state")
		return nil
	})
	for i, err := range errs {
		if err != noEngine {
			t.Errorf("job %d: error %v, want %v", i, err, noEngine)
		}
	}
}

// No jobs open no state.
func TestEachNoJobs(t *testing.T) {
	errs := Each(0, 4, func() (int, error) {
		t.Error("a state was opened for no job")
		return 0, nil
	}, func(int, int) error { return nil })
	if len(errs) != 0 {
		t.Errorf("%d errors for no jobs", len(errs))
	}
}
