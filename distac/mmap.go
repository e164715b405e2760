package distac

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

// pageTracker counts, for each 2 MiB block of each input file, the bytes a
// pass will read from it, and releases the block when they have all been
// consumed. A pass is one sweep of jobs (TIES makes three); each gets its
// own tracker.
type pageTracker struct {
	files map[*File]*fileBlocks
}

type fileBlocks struct {
	want []int64        // bytes of the block the pass reads
	got  []atomic.Int64 // bytes consumed so far
}

// newPageTracker sizes the counts from the jobs of a pass.
func newPageTracker(jobs []job) *pageTracker {
	pt := &pageTracker{files: map[*File]*fileBlocks{}}
	for _, j := range jobs {
		pt.each(j.it.base, j.lo, j.hi, func(fb *fileBlocks, b int, n int64) { fb.want[b] += n })
		for _, t := range j.it.tasks {
			pt.each(t, j.lo, j.hi, func(fb *fileBlocks, b int, n int64) { fb.want[b] += n })
		}
	}
	return pt
}

// each calls fn for every block that elements [lo, hi) of t overlap, with the
// number of bytes they have in it.
func (pt *pageTracker) each(t *Tensor, lo, hi int, fn func(fb *fileBlocks, b int, n int64)) {
	fb := pt.files[t.file]
	if fb == nil {
		nb := (int64(len(t.file.data)) + releaseBlock - 1) / releaseBlock
		fb = &fileBlocks{want: make([]int64, nb), got: make([]atomic.Int64, nb)}
		pt.files[t.file] = fb
	}
	s := int64(t.elemSize())
	a, e := t.begin+int64(lo)*s, t.begin+int64(hi)*s
	for a < e {
		b := a / releaseBlock
		end := min(e, (b+1)*releaseBlock)
		fn(fb, int(b), end-a)
		a = end
	}
}

// consumed records that elements [lo, hi) of t have been read for good in
// this pass, releasing every block that is now fully consumed.
func (pt *pageTracker) consumed(t *Tensor, lo, hi int) {
	if pt == nil {
		return
	}
	pt.each(t, lo, hi, func(fb *fileBlocks, b int, n int64) {
		if fb.got[b].Add(n) == fb.want[b] {
			start := int64(b) * releaseBlock
			release(t.file.data, start, min(start+releaseBlock, int64(len(t.file.data))))
		}
	})
}

// finish releases whatever the pass left mapped (headers, a pass that
// stopped early).
func (pt *pageTracker) finish() {
	for f := range pt.files {
		release(f.data, 0, int64(len(f.data)))
	}
}
