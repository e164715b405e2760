package data

import (
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// drain reads up to max batches (stopping at io.EOF).
func drain(t *testing.T, l *Loader, max int) []Batch {
	t.Helper()
	var out []Batch
	for len(out) < max {
		b, err := l.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// checkBatch: every image and label in b is the set's image at its index.
func checkBatch(t *testing.T, s *Set, b Batch) {
	t.Helper()
	size := s.ImageSize()
	if len(b.Images) != b.N*size || len(b.Indices) != b.N || (s.Labels != nil && len(b.Labels) != b.N) {
		t.Fatalf("batch of %d: %d values, %d indices, %d labels", b.N, len(b.Images), len(b.Indices), len(b.Labels))
	}
	for k, i := range b.Indices {
		if !cmp.Equal(b.Images[k*size:(k+1)*size], s.Image(i)) {
			t.Fatalf("batch image %d is not set image %d", k, i)
		}
		if s.Labels != nil && b.Labels[k] != s.Labels[i] {
			t.Fatalf("batch label %d = %d, set label %d = %d", k, b.Labels[k], i, s.Labels[i])
		}
	}
}

// TestLoaderOnePass: without Shuffle, one pass in set order with a short
// last batch, then io.EOF (again on every later call).
func TestLoaderOnePass(t *testing.T) {
	s := synthSet(10, 1, 2, 3, 3)
	l := NewLoader(s, LoaderOptions{Batch: 4})
	defer l.Close()
	bs := drain(t, l, 100)
	if len(bs) != 3 || bs[0].N != 4 || bs[1].N != 4 || bs[2].N != 2 {
		t.Fatalf("got %d batches, want 4+4+2", len(bs))
	}
	next := 0
	for _, b := range bs {
		checkBatch(t, s, b)
		for _, i := range b.Indices {
			if i != next {
				t.Fatalf("index %d, want %d (set order)", i, next)
			}
			next++
		}
	}
	for k := 0; k < 2; k++ {
		if _, err := l.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("after the pass: %v, want io.EOF", err)
		}
	}

	d := NewLoader(s, LoaderOptions{Batch: 4, DropLast: true})
	defer d.Close()
	if bs := drain(t, d, 100); len(bs) != 2 || bs[1].N != 4 {
		t.Fatalf("DropLast: %d batches", len(bs))
	}
	u := synthSet(3, 1, 1, 1, 1)
	u.Labels, u.Classes = nil, 0
	ul := NewLoader(u, LoaderOptions{Batch: 2, Prefetch: 1})
	defer ul.Close()
	for _, b := range drain(t, ul, 10) {
		if b.Labels != nil {
			t.Fatal("unlabelled set gave labels")
		}
		checkBatch(t, u, b)
	}
}

// TestLoaderShuffleEpochs: each epoch visits every index exactly once, in a
// new order; the same seed repeats the sequence, another seed does not.
func TestLoaderShuffleEpochs(t *testing.T) {
	s := synthSet(23, 1, 2, 2, 4)
	const batch = 5
	read := func(seed uint64, dropLast bool) []Batch {
		l := NewLoader(s, LoaderOptions{Batch: batch, Seed: seed, Shuffle: true, DropLast: dropLast, Prefetch: 3})
		defer l.Close()
		return drain(t, l, 4*5)
	}
	bs := read(1, false)
	var orders [][]int
	for e := 0; e < 4; e++ {
		var idx []int
		for k, b := range bs[e*5 : (e+1)*5] {
			checkBatch(t, s, b)
			if b.Epoch != e {
				t.Fatalf("batch %d of epoch %d says epoch %d", k, e, b.Epoch)
			}
			if want := map[bool]int{true: 3, false: batch}[k == 4]; b.N != want {
				t.Fatalf("epoch %d batch %d has %d images, want %d", e, k, b.N, want)
			}
			idx = append(idx, b.Indices...)
		}
		orders = append(orders, append([]int(nil), idx...))
		if sort.IntsAreSorted(idx) {
			t.Fatalf("epoch %d is in set order: not shuffled", e)
		}
		sort.Ints(idx)
		for i, v := range idx {
			if v != i {
				t.Fatalf("epoch %d does not visit each index once: %v", e, idx)
			}
		}
	}
	if cmp.Equal(orders[0], orders[1]) {
		t.Fatal("epochs 0 and 1 in the same order")
	}
	if again := read(1, false); !cmp.Equal(again, bs) {
		t.Fatal("same seed, different batches")
	}
	if other := read(2, false); cmp.Equal(other[0].Indices, bs[0].Indices) {
		t.Fatal("seeds 1 and 2 start with the same batch")
	}
	for _, b := range read(1, true) {
		if b.N != batch {
			t.Fatalf("DropLast gave a batch of %d", b.N)
		}
	}
}

// TestLoaderNoAliasing: batches handed out share no memory, so changing one
// leaves the next and the set intact; released batches are recycled.
func TestLoaderNoAliasing(t *testing.T) {
	s := synthSet(40, 1, 3, 3, 2)
	orig := append([]float32(nil), s.Images...)
	l := NewLoader(s, LoaderOptions{Batch: 4, Shuffle: true, Seed: 5})
	defer l.Close()
	bs := drain(t, l, 20)
	for i := range bs {
		for j := range bs[i].Images {
			bs[i].Images[j] = -1 // scribble over every batch once read
		}
		bs[i].Labels[0] = -7
		bs[i].Indices[0] = -7
	}
	for i := range bs {
		for _, v := range bs[i].Images {
			if v != -1 {
				t.Fatal("a later batch overwrote an earlier one")
			}
		}
	}
	if !cmp.Equal(s.Images, orig) {
		t.Fatal("writing to batches changed the set")
	}

	// Release: buffers come back (same backing array) with correct contents.
	r := NewLoader(s, LoaderOptions{Batch: 4, Shuffle: true, Seed: 5, Prefetch: 1})
	defer r.Close()
	seen := map[*float32]bool{}
	reused := false
	for k := 0; k < 30; k++ {
		b, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		checkBatch(t, s, b)
		if seen[&b.Images[0]] {
			reused = true
		}
		seen[&b.Images[0]] = true
		r.Release(b)
	}
	if !reused {
		t.Fatal("released buffers were never reused")
	}
}

// TestLoaderAugment: Augment sees copies (the set is untouched), with a
// seeded stream: the same seed gives the same augmented values, another seed
// other values, and images within a batch draw different noise.
func TestLoaderAugment(t *testing.T) {
	s := synthSet(12, 1, 2, 2, 3)
	orig := append([]float32(nil), s.Images...)
	aug := func(rng *rand.Rand, img []float32) {
		for i := range img {
			img[i] += float32(rng.IntN(1000)) * 1000
		}
	}
	// noise is what the augmentation added, batch by batch (set order, so
	// only the augmentation stream depends on the seed).
	noise := func(seed uint64) [][]float32 {
		l := NewLoader(s, LoaderOptions{Batch: 5, Seed: seed, Augment: aug})
		defer l.Close()
		var out [][]float32
		for _, b := range drain(t, l, 10) {
			d := make([]float32, len(b.Images))
			for k, i := range b.Indices {
				for j, v := range s.Image(i) {
					d[k*4+j] = b.Images[k*4+j] - v
				}
			}
			out = append(out, d)
		}
		return out
	}
	a := noise(9)
	if !cmp.Equal(a, noise(9)) {
		t.Fatal("same seed, different augmentation")
	}
	if cmp.Equal(a, noise(10)) {
		t.Fatal("seeds 9 and 10 give the same augmentation")
	}
	if cmp.Equal(a[0][0:4], a[0][4:8]) {
		t.Fatal("two images of a batch got the same noise")
	}
	if !cmp.Equal(s.Images, orig) {
		t.Fatal("augmentation wrote to the set")
	}
}

// TestLoaderClose: Close stops the producer (no goroutine left behind, even
// with the prefetch queue full or a batch half built), is idempotent, and
// Next then fails.
func TestLoaderClose(t *testing.T) {
	s := synthSet(100, 1, 4, 4, 2)
	var ls []*Loader
	for k := 0; k < 20; k++ {
		l := NewLoader(s, LoaderOptions{Batch: 3, Shuffle: k%2 == 0, Prefetch: 4})
		t.Cleanup(l.Close)
		if _, err := l.Next(); err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	time.Sleep(10 * time.Millisecond) // let the producers fill their queues and block
	during := runtime.NumGoroutine()  // the 20 producers and whatever else is running
	for _, l := range ls {
		l.Close()
		l.Close()
		if _, err := l.Next(); !errors.Is(err, ErrLoaderClosed) {
			t.Fatalf("Next after Close: %v", err)
		}
	}
	// A goroutine past its last statement may take a moment to be reaped.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > during-20 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > during-20 {
		t.Fatalf("%d goroutines after closing 20 loaders, %d before: a producer leaked", n, during)
	}

	// Close returns only once the producer has stopped: with a slow Augment
	// mid-batch, no augmentation runs after Close returns.
	var calls atomic.Int64
	l := NewLoader(s, LoaderOptions{Batch: 10, Shuffle: true, Augment: func(*rand.Rand, []float32) {
		calls.Add(1)
		time.Sleep(200 * time.Microsecond)
	}})
	if _, err := l.Next(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	n := calls.Load()
	time.Sleep(20 * time.Millisecond)
	if calls.Load() != n {
		t.Fatalf("augmentation ran %d times after Close returned", calls.Load()-n)
	}
}

// TestLoaderBadOptions: errors come from Next, with no goroutine started.
func TestLoaderBadOptions(t *testing.T) {
	s := synthSet(3, 1, 1, 1, 1)
	bad := synthSet(3, 1, 1, 1, 1)
	bad.Labels[0] = 9
	for name, l := range map[string]*Loader{
		"nil set":      NewLoader(nil, LoaderOptions{Batch: 1}),
		"batch 0":      NewLoader(s, LoaderOptions{}),
		"prefetch":     NewLoader(s, LoaderOptions{Batch: 1, Prefetch: -1}),
		"invalid set":  NewLoader(bad, LoaderOptions{Batch: 1}),
		"empty epochs": NewLoader(s, LoaderOptions{Batch: 4, Shuffle: true, DropLast: true}),
	} {
		if _, err := l.Next(); err == nil || errors.Is(err, io.EOF) {
			t.Errorf("%s: Next gave %v, want an error", name, err)
		}
		l.Close()
	}
}
