package checkpoint

import (
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// mapFile maps size bytes of f read-only. The mapping is shared: nothing is
// ever written through it, so pages stay clean and dropping them is free.
func mapFile(f *os.File, size int64) ([]byte, error) {
	return unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
}

// unmap releases a mapping made by mapFile.
func unmap(data []byte) error { return unix.Munmap(data) }

// release unmaps data[lo:hi] from this process (MADV_DONTNEED), so consumed
// tensor data stops counting toward the resident set; the page cache keeps
// the pages and a later read maps them again. lo and hi must be page-aligned
// (or hi the end of the file).
func release(data []byte, lo, hi int64) {
	if lo < hi {
		_ = unix.Madvise(data[lo:hi], unix.MADV_DONTNEED)
	}
}

// releaseBlock is the granularity of page release: the page cache holds a
// file in large folios (up to 2 MiB, aligned in the file) and a fault maps a
// whole folio, so releasing a smaller piece of a folio while its neighbours
// are still being read lets the next fault map the released part again, for
// good. Releasing whole aligned 2 MiB blocks once nothing more will read
// them keeps the resident set bounded and takes one madvise per block.
const releaseBlock = 2 << 20

// Pages releases a pass's input pages as it consumes them: it counts, for
// each 2 MiB block of each input file, the bytes the pass will read from it
// (Expect, before the pass), and releases the block once they have all been
// consumed (Consumed, from any goroutine). A pass is one sweep over the
// inputs (a TIES merge makes several); each gets its own Pages.
type Pages struct {
	files map[*File]*fileBlocks
}

type fileBlocks struct {
	want []int64        // bytes of the block the pass reads
	got  []atomic.Int64 // bytes consumed so far
}

// NewPages returns an empty tracker.
func NewPages() *Pages { return &Pages{files: map[*File]*fileBlocks{}} }

// Expect records that the pass will read elements [lo, hi) of t. Call it
// for every read of the pass before the first Consumed.
func (p *Pages) Expect(t *Tensor, lo, hi int) {
	p.each(t, lo, hi, func(fb *fileBlocks, b int, n int64) { fb.want[b] += n })
}

// each calls fn for every block that elements [lo, hi) of t overlap, with the
// number of bytes they have in it.
func (p *Pages) each(t *Tensor, lo, hi int, fn func(fb *fileBlocks, b int, n int64)) {
	if t.file.inMemory { // the caller's memory: releasing it would zero it
		return
	}
	fb := p.files[t.file]
	if fb == nil {
		nb := (int64(len(t.file.data)) + releaseBlock - 1) / releaseBlock
		fb = &fileBlocks{want: make([]int64, nb), got: make([]atomic.Int64, nb)}
		p.files[t.file] = fb
	}
	s := int64(t.ElemSize())
	a, e := t.begin+int64(lo)*s, t.begin+int64(hi)*s
	for a < e {
		b := a / releaseBlock
		end := min(e, (b+1)*releaseBlock)
		fn(fb, int(b), end-a)
		a = end
	}
}

// Consumed records that elements [lo, hi) of t have been read for good in
// this pass, releasing every block that is now fully consumed. A nil
// tracker does nothing.
func (p *Pages) Consumed(t *Tensor, lo, hi int) {
	if p == nil {
		return
	}
	p.each(t, lo, hi, func(fb *fileBlocks, b int, n int64) {
		if fb.got[b].Add(n) == fb.want[b] {
			start := int64(b) * releaseBlock
			release(t.file.data, start, min(start+releaseBlock, int64(len(t.file.data))))
		}
	})
}

// Finish releases whatever the pass left mapped (headers, a pass that
// stopped early).
func (p *Pages) Finish() {
	for f := range p.files {
		release(f.data, 0, int64(len(f.data)))
	}
}
