package checkpoint

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
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
