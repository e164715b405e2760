package data

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
)

// Batch is N consecutive images of a Loader's order: Images holds N*C*H*W
// values, Labels N labels (nil for an unlabelled set), Indices the set index
// of each image, Epoch the pass it belongs to (from 0).
type Batch struct {
	Images  []float32
	Labels  []int32
	N       int
	Indices []int
	Epoch   int
}

// LoaderOptions configure a Loader.
type LoaderOptions struct {
	Batch    int    // images per batch, > 0
	Seed     uint64 // seeds the per-epoch shuffles and the augmentation stream
	Shuffle  bool   // reshuffle every epoch and roll over forever; else one pass in set order, then io.EOF
	DropLast bool   // drop each epoch's short final batch
	Prefetch int    // batches prepared ahead by the background goroutine; 0 means 2
	// Augment, if set, is applied to each image of a batch (a copy, never the
	// set's own values) in order, on the loader's goroutine, with a seeded
	// generator: the same seed gives the same augmented batches.
	Augment func(rng *rand.Rand, img []float32)
}

// ErrLoaderClosed is returned by Next after Close.
var ErrLoaderClosed = errors.New("data: loader closed")

// Loader yields batches of a Set, prepared by a background goroutine up to
// Prefetch batches ahead. Next is for one goroutine; Close may be called from
// any. Every batch is freshly allocated, so batches never share memory, unless
// the caller hands one back with Release, whose buffers are then reused.
// Always Close a Loader: its goroutine waits for the next Next until then.
type Loader struct {
	set   *Set
	opt   LoaderOptions
	err   error // a bad set or option, returned by every Next
	out   chan loaded
	free  chan Batch // released buffers
	done  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
	ended bool // io.EOF was returned
}

type loaded struct {
	b   Batch
	err error
}

// NewLoader starts a loader over s. A nil or inconsistent set, or a bad
// option, is reported by the first Next (and every later one).
func NewLoader(s *Set, opt LoaderOptions) *Loader {
	l := &Loader{set: s, opt: opt, done: make(chan struct{})}
	if opt.Prefetch == 0 {
		l.opt.Prefetch = 2
	}
	switch {
	case s == nil:
		l.err = errors.New("data: loader: nil set")
	case opt.Batch <= 0:
		l.err = fmt.Errorf("data: loader over %q: batch size %d must be positive", s.Name, opt.Batch)
	case opt.Prefetch < 0:
		l.err = fmt.Errorf("data: loader over %q: prefetch %d must not be negative", s.Name, opt.Prefetch)
	}
	if l.err == nil {
		if err := s.Validate(); err != nil {
			l.err = fmt.Errorf("data: loader: %w", err)
		}
	}
	if l.err == nil && opt.Shuffle && l.batchesPerEpoch() == 0 {
		l.err = fmt.Errorf("data: loader over %q: %d images make no batch of %d (drop last %v), so an epoch would be empty",
			s.Name, s.Len(), opt.Batch, opt.DropLast)
	}
	if l.err != nil {
		return l
	}
	l.out = make(chan loaded, l.opt.Prefetch)
	l.free = make(chan Batch, l.opt.Prefetch+2)
	l.wg.Add(1)
	go l.produce()
	return l
}

// batchesPerEpoch counts the batches of one pass.
func (l *Loader) batchesPerEpoch() int {
	n, b := l.set.Len(), l.opt.Batch
	if l.opt.DropLast {
		return n / b
	}
	return (n + b - 1) / b
}

// Next returns the next batch; io.EOF after one full pass when not
// shuffling; ErrLoaderClosed after Close.
func (l *Loader) Next() (Batch, error) {
	if l.err != nil {
		return Batch{}, l.err
	}
	if l.ended {
		return Batch{}, io.EOF
	}
	select { // a closed loader stays closed even with batches still queued
	case <-l.done:
		return Batch{}, ErrLoaderClosed
	default:
	}
	select {
	case r := <-l.out:
		if errors.Is(r.err, io.EOF) {
			l.ended = true
		}
		return r.b, r.err
	case <-l.done:
		return Batch{}, ErrLoaderClosed
	}
}

// Release hands a batch's buffers back for reuse by a later batch. The
// caller must not touch b (or slices of it) afterwards. Releasing is
// optional; unreleased batches are left to the garbage collector.
func (l *Loader) Release(b Batch) {
	if l.free == nil || b.Images == nil {
		return
	}
	select {
	case l.free <- b:
	default: // enough spares already
	}
}

// Close stops the background goroutine and waits for it to exit. It is safe
// to call more than once.
func (l *Loader) Close() {
	l.once.Do(func() {
		close(l.done)
		l.wg.Wait()
	})
}

// produce fills l.out: epoch after epoch in shuffled order, or one pass in
// set order followed by io.EOF.
func (l *Loader) produce() {
	defer l.wg.Done()
	s, opt := l.set, l.opt
	n := s.Len()
	shuffle := newRand(opt.Seed, streamShuffle)
	augment := newRand(opt.Seed, streamAugment)
	order := make([]int, n)
	for epoch := 0; ; epoch++ {
		for i := range order {
			order[i] = i
		}
		if opt.Shuffle {
			shuffle.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		for start := 0; start < n; start += opt.Batch {
			end := min(start+opt.Batch, n)
			if opt.DropLast && end-start < opt.Batch {
				break
			}
			b := l.fill(order[start:end], epoch, augment)
			select {
			case l.out <- loaded{b: b}:
			case <-l.done:
				return
			}
		}
		if !opt.Shuffle {
			select {
			case l.out <- loaded{err: io.EOF}:
			case <-l.done:
			}
			return
		}
	}
}

// fill builds the batch of the given set indices, in a released batch's
// buffers when there is one.
func (l *Loader) fill(idx []int, epoch int, rng *rand.Rand) Batch {
	s := l.set
	size := s.ImageSize()
	var b Batch
	select {
	case b = <-l.free:
	default:
	}
	b.N, b.Epoch = len(idx), epoch
	b.Images = grow(b.Images, len(idx)*size)
	if cap(b.Indices) < len(idx) {
		b.Indices = make([]int, 0, len(idx))
	}
	b.Indices = b.Indices[:0]
	switch {
	case s.Labels == nil:
		b.Labels = nil
	case cap(b.Labels) < len(idx):
		b.Labels = make([]int32, 0, len(idx))
	default:
		b.Labels = b.Labels[:0]
	}
	for k, i := range idx {
		img := b.Images[k*size : (k+1)*size]
		copy(img, s.Image(i))
		if l.opt.Augment != nil {
			l.opt.Augment(rng, img)
		}
		b.Indices = append(b.Indices, i)
		if s.Labels != nil {
			b.Labels = append(b.Labels, s.Labels[i])
		}
	}
	return b
}

// grow returns a slice of length n, reusing buf's array when it is big enough.
func grow(buf []float32, n int) []float32 {
	if cap(buf) >= n {
		return buf[:n]
	}
	return make([]float32, n)
}
