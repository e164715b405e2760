package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nlpodyssey/safetensors"
)

// outTensors is n F32 tensors of 4 elements, named t0, t1, ...
func outTensors(n int) []OutTensor {
	var ts []OutTensor
	for i := range n {
		ts = append(ts, OutTensor{Name: "t" + strconv.Itoa(i), DType: safetensors.F32, Shape: []uint64{4}})
	}
	return ts
}

// create starts an output of n tensors filled with fill (shardSize 16: one
// tensor per shard; 0: one file).
func create(t *testing.T, out string, n int, shardSize int64, force bool, fill byte) (*Writer, error) {
	t.Helper()
	w, err := Create(out, outTensors(n), nil, shardSize, force, nil)
	if err != nil {
		return nil, err
	}
	for i := range n {
		if err := w.WriteAt(i, 0, slices.Repeat([]byte{fill}, 16)); err != nil {
			t.Fatal(err)
		}
	}
	return w, nil
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// Two writers of one output without force: the first to commit wins, the
// second fails at its rename with ErrExists and leaves nothing; the first's
// output is intact. (The check at Create passed for both.)
func TestConcurrentOutputs(t *testing.T) {
	for _, shard := range []int64{0, 16} {
		dir := t.TempDir()
		out := filepath.Join(dir, "m.safetensors")
		w1, err1 := create(t, out, 3, shard, false, 1)
		w2, err2 := create(t, out, 3, shard, false, 2)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if err := w1.Commit(); err != nil {
			t.Fatal(err)
		}
		var before []string // the first output alone
		for _, n := range names(t, dir) {
			if !strings.Contains(n, ".tmp-") {
				before = append(before, n)
			}
		}
		if err := w2.Commit(); !errors.Is(err, ErrExists) {
			t.Fatalf("shard %d: second commit: %v, want ErrExists", shard, err)
		}
		if d := cmp.Diff(before, names(t, dir)); d != "" {
			t.Errorf("shard %d: the failed commit changed the directory (-before +after):\n%s", shard, d)
		}
		path := out
		if shard > 0 {
			path = filepath.Join(dir, "m.safetensors.index.json")
		}
		c, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if b := c.Tensors[2].Bytes(0, 4); b[0] != 1 {
			t.Errorf("shard %d: the first output was replaced", shard)
		}
		c.Close()
	}
}

// --force replaces what a symbolic link points to and keeps the link; a
// .json output name is refused.
func TestOutputThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.safetensors")
	link := filepath.Join(dir, "link.safetensors")
	w, err := create(t, target, 1, 0, false, 1)
	if err != nil || w.Commit() != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real.safetensors", link); err != nil {
		t.Fatal(err)
	}
	if _, err := create(t, link, 1, 0, false, 2); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("through a link without force: %v", err)
	}
	w, err = create(t, link, 1, 0, true, 2)
	if err != nil || w.Commit() != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", st, err)
	}
	c, err := Open(target)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Tensors[0].Bytes(0, 4)[0] != 2 {
		t.Error("the link's target was not rewritten")
	}
	if _, err := Create(filepath.Join(dir, "x.safetensors.index.json"), outTensors(1), nil, 0, false, nil); err == nil ||
		!strings.Contains(err.Error(), "index is written beside") {
		t.Errorf(".json output: %v", err)
	}
}

// Replacing an output with --force removes the files of the old one that
// the new one does not overwrite: shards of another count, a single file
// that became shards, an index that became a single file.
func TestReshardRemovesOldFiles(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.safetensors")
	other := filepath.Join(dir, "other-00001-of-00002.safetensors") // not ours to touch
	if err := os.WriteFile(other, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		n     int
		shard int64
		want  []string
	}{
		{3, 16, []string{"m-00001-of-00003.safetensors", "m-00002-of-00003.safetensors", "m-00003-of-00003.safetensors", "m.safetensors.index.json"}},
		{2, 16, []string{"m-00001-of-00002.safetensors", "m-00002-of-00002.safetensors", "m.safetensors.index.json"}},
		{2, 0, []string{"m.safetensors"}},
		{2, 16, []string{"m-00001-of-00002.safetensors", "m-00002-of-00002.safetensors", "m.safetensors.index.json"}},
	}
	for k, s := range steps {
		if k > 0 {
			if _, err := create(t, out, s.n, s.shard, false, 1); err == nil {
				t.Fatalf("step %d: replaced an earlier output without force", k)
			}
		}
		w, err := create(t, out, s.n, s.shard, true, byte(k))
		if err != nil || w.Commit() != nil {
			t.Fatal(err)
		}
		want := append(slices.Clone(s.want), filepath.Base(other))
		slices.Sort(want)
		if d := cmp.Diff(want, names(t, dir)); d != "" {
			t.Errorf("step %d: files (-want +got):\n%s", k, d)
		}
	}
}

// Temporaries carry the writer's pid: a later output to the same target
// removes those of processes that no longer run and leaves the others;
// RemoveTemporaries removes this process's own.
func TestTemporaries(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.safetensors")
	shard := "m-00001-of-00002.safetensors" // the first of the two shards written below
	dead := filepath.Join(dir, "."+shard+".tmp-999999999-123")
	live := filepath.Join(dir, "."+shard+".tmp-1-456") // init runs
	foreign := filepath.Join(dir, "."+shard+".tmp-abc")
	for _, p := range []string{dead, live, foreign} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	w, err := create(t, out, 2, 16, false, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a dead process's temporary stayed: %v", err)
	}
	for _, p := range []string{live, foreign} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
	ours := 0
	for _, n := range names(t, dir) {
		if strings.Contains(n, ".tmp-"+strconv.Itoa(os.Getpid())+"-") {
			ours++
		}
	}
	if ours != 2 {
		t.Fatalf("%d temporaries of this process, want 2 (two shards)", ours)
	}
	removed := RemoveTemporaries()
	placing.Unlock() // RemoveTemporaries keeps it for the exit that follows it; a test goes on
	if len(removed) != 2 {
		t.Errorf("RemoveTemporaries removed %v", removed)
	}
	w.Abort()
	want := []string{filepath.Base(live), filepath.Base(foreign)}
	if d := cmp.Diff(want, names(t, dir)); d != "" {
		t.Errorf("files left (-want +got):\n%s", d)
	}
}

// A mapped file that shrinks while it is read is an error naming it, not a
// crash (SIGBUS); one rewritten in place is reported by Changed.
func TestFileChangedUnderReader(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.safetensors")
	w, err := Create(out, []OutTensor{{Name: "w", DType: safetensors.F32, Shape: []uint64{1 << 20}}}, nil, 0, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteAt(0, 0, make([]byte, 4<<20)); err != nil || w.Commit() != nil {
		t.Fatal(err)
	}
	c, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tn := c.Tensors[0]
	if err := c.Changed(); err != nil {
		t.Fatal(err)
	}
	// Rewritten in place, same size.
	f, err := os.OpenFile(out, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{1}, 1<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := c.Changed(); err == nil || !strings.Contains(err.Error(), "changed while being read") {
		t.Errorf("rewritten in place: %v", err)
	}
	// Truncated: the pages past the new end fault.
	if err := os.Truncate(out, 4096); err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 4<<20)
	err = tn.View(0, tn.Numel, func(b []byte) error { copy(dst, b); return nil })
	if err == nil || !strings.Contains(err.Error(), "shrank while being read") || !strings.Contains(err.Error(), out) {
		t.Errorf("truncated: %v", err)
	}
	// ReadTo (pread) sees the short file: an error naming it as well; the
	// bytes still there read as before.
	err = tn.ReadTo(0, tn.Numel, dst)
	if err == nil || !strings.Contains(err.Error(), "shrank while being read") || !strings.Contains(err.Error(), out) {
		t.Errorf("truncated, ReadTo: %v", err)
	}
	if err := tn.ReadTo(0, 8, dst[:32]); err != nil {
		t.Errorf("ReadTo of the bytes left: %v", err)
	}
	if err := tn.ReadTo(0, 8, dst[:31]); err == nil {
		t.Error("ReadTo into a buffer of the wrong size succeeded")
	}
}
