package checkpoint

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"syscall"
	"time"
)

// A mapped file that another process shrinks while it is read faults
// (SIGBUS) on the pages past its new end, and one rewritten in place changes
// under the reader. Both are errors naming the file, never a crash or an
// output made of two versions: reads of mapped bytes go through View, which
// turns a fault into an error, and Changed compares the file with what it
// was when it was opened.

// fileStamp is what Changed compares: a file rewritten in place keeps its
// inode but not its size, modification or change time.
type fileStamp struct {
	size         int64
	mtime, ctime time.Time
	dev, ino     uint64
}

func stampOf(st os.FileInfo) fileStamp {
	s := fileStamp{size: st.Size(), mtime: st.ModTime()}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		s.ctime = time.Unix(int64(sys.Ctim.Sec), int64(sys.Ctim.Nsec))
		s.dev, s.ino = uint64(sys.Dev), uint64(sys.Ino)
	}
	return s
}

// Changed returns an error if the file was truncated or rewritten in place
// since it was opened. A file replaced by another (a new inode under the
// name) is no change to what is mapped, which is still the old file.
func (f *File) Changed() error {
	st, err := os.Stat(f.Path)
	if err != nil {
		return fmt.Errorf("%s: changed while being read: %w", f.Path, err)
	}
	now := stampOf(st)
	if now.dev != f.stamp.dev || now.ino != f.stamp.ino {
		return nil
	}
	if now.size != f.stamp.size || !now.mtime.Equal(f.stamp.mtime) || !now.ctime.Equal(f.stamp.ctime) {
		return fmt.Errorf("%s: changed while being read (size %d -> %d, modified %s): the result would mix two versions",
			f.Path, f.stamp.size, now.size, now.mtime.Format(time.RFC3339Nano))
	}
	return nil
}

// Changed is File.Changed for every file of the checkpoint.
func (c *Checkpoint) Changed() error {
	for _, f := range c.Files {
		if err := f.Changed(); err != nil {
			return err
		}
	}
	return nil
}

// guard runs fn, which reads f's mapped bytes, and turns a fault on them
// into an error (the caller names the file).
func (f *File) guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if fault, ok := r.(interface{ Addr() uintptr }); ok {
			err = fmt.Errorf("the file shrank while being read (a fault at %#x): it was truncated or replaced in place", fault.Addr())
			return
		}
		panic(r)
	}()
	return fn()
}

// View runs fn on the mapped bytes of elements [lo, hi) of t; fn must not
// keep them. If the file shrinks while fn reads them, View returns an error
// naming the file instead of the crash that fault would be. Code that hands
// the bytes to C (which Go cannot recover from a fault in) must copy them in
// fn first.
func (t *Tensor) View(lo, hi int, fn func(b []byte) error) error {
	var fnErr error
	if err := t.file.guard(func() error { fnErr = fn(t.Bytes(lo, hi)); return nil }); err != nil {
		return fmt.Errorf("%s: tensor %q: %w", t.file.Path, t.Name, err)
	}
	return fnErr
}

// ReadTo copies the bytes of elements [lo, hi) of t into dst, which must
// hold exactly that many. A file is read with pread, not through its
// mapping: the copy is the one reading a file costs anyway (what cat
// does), the mapping's pages are never faulted in, so nothing has to be
// released again (no madvise, no TLB shootdowns), and a file that shrank
// meanwhile is a short read, an error naming it. dst may be memory Go
// does not manage (a backend's C buffer) that C code reads afterwards.
// Tensors held in memory (FromMemory) are copied.
func (t *Tensor) ReadTo(lo, hi int, dst []byte) error {
	s := int64(t.ElemSize())
	n := int64(hi-lo) * s
	if lo < 0 || hi < lo || hi > t.Numel || int64(len(dst)) != n {
		return fmt.Errorf("%s: tensor %q: read of elements [%d, %d) into %d bytes", t.file.Path, t.Name, lo, hi, len(dst))
	}
	if t.file.fd == nil {
		return t.View(lo, hi, func(b []byte) error { copy(dst, b); return nil })
	}
	off := t.begin + int64(lo)*s
	if _, err := t.file.fd.ReadAt(dst, off); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: tensor %q: the file shrank while being read (bytes [%d, %d) are gone): it was truncated or replaced in place",
				t.file.Path, t.Name, off, off+n)
		}
		return fmt.Errorf("%s: tensor %q: %w", t.file.Path, t.Name, err)
	}
	return nil
}
