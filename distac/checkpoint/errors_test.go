package checkpoint

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/nlpodyssey/safetensors"
	"golang.org/x/sys/unix"
)

// TestErrMalformed: a broken file, directory or index is ErrMalformed (its
// message unchanged); a missing file is not, it is the file system's error.
func TestErrMalformed(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.safetensors", rawFile(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)))
	bad := map[string]string{
		"short":       write("short.safetensors", []byte{1, 2}),
		"header":      write("header.safetensors", rawFile(`{"w":`, nil)),
		"offsets":     write("offsets.safetensors", rawFile(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 4))),
		"empty dir":   t.TempDir(),
		"index json":  write("a.index.json", []byte("nope")),
		"index shard": write("b.index.json", []byte(`{"weight_map":{"w":"gone.safetensors"}}`)),
		"index entry": write("c.index.json", []byte(`{"weight_map":{"v":"good.safetensors"}}`)),
	}
	for what, p := range bad {
		_, err := Open(p)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", what, err)
		}
		if err != nil && err.Error() == ErrMalformed.Error() {
			t.Errorf("%s: the message lost its detail: %v", what, err)
		}
	}
	if _, err := Open(filepath.Join(dir, "missing.safetensors")); errors.Is(err, ErrMalformed) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err %v, want fs.ErrNotExist and not ErrMalformed", err)
	}
	c, err := Open(good)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// TestErrExists: an existing output is ErrExists from the check before the
// work as from the final rename, so a caller tells it from other refusals.
func TestErrExists(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.safetensors")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckOutput(p, false, nil); !errors.Is(err, ErrExists) || err.Error() != "output "+p+" already exists (use --force to replace it)" {
		t.Errorf("existing output: %v", err)
	}
	if err := CheckOutput(p, false, []string{p}); errors.Is(err, ErrExists) {
		t.Errorf("an output that is an input is not ErrExists: %v", err)
	}
}

// TestNoRoomFailsAtCreate: an output larger than its file system is an
// error when it is created (its blocks are reserved then), before a merge or
// a training run has done any work, and leaves no temporary behind.
func TestNoRoomFailsAtCreate(t *testing.T) {
	dir := t.TempDir()
	probe, err := os.CreateTemp(dir, "probe")
	if err != nil {
		t.Fatal(err)
	}
	err = unix.Fallocate(int(probe.Fd()), 0, 0, 4096)
	probe.Close()
	os.Remove(probe.Name())
	if errors.Is(err, unix.EOPNOTSUPP) {
		t.Skipf("the file system of %s has no fallocate: outputs stay sparse there", dir)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	elems := uint64(free/2 + 1<<30) // twice the free space, and at least 4 GiB, of f32
	out := filepath.Join(dir, "big.safetensors")
	w, err := Create(out, []OutTensor{{Name: "x", DType: safetensors.F32, Shape: []uint64{elems}}}, nil, 0, false, nil)
	if err == nil {
		w.Abort()
		t.Fatalf("a %d-byte output on a file system with %d bytes free was created", 4*elems, free)
	}
	t.Log(err)
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left %v behind", ents)
	}
}
