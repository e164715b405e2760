package checkpoint

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nlpodyssey/safetensors"
)

// A path without .safetensors is a folder output, as transformers writes
// one: made by Create, model.safetensors when it fits a shard, else
// model-0000i-of-0000N.safetensors and model.safetensors.index.json, with
// the files AddFile gives; Abort leaves no folder behind.
func TestFolderOutput(t *testing.T) {
	dir := t.TempDir()
	tensors := []OutTensor{{Name: "a", DType: safetensors.F32, Shape: []uint64{4}}, {Name: "b", DType: safetensors.F32, Shape: []uint64{4}}}
	write := func(out string, shard int64) *Writer {
		t.Helper()
		if err := CheckOutput(out, false, nil); err != nil {
			t.Fatal(err)
		}
		w, err := Create(out, tensors, map[string]string{"format": "pt"}, shard, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range tensors {
			if err := w.WriteAt(i, 0, make([]byte, 16)); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.AddFile("config.json", []byte("{}\n")); err != nil {
			t.Fatal(err)
		}
		return w
	}
	one := filepath.Join(dir, "one")
	if err := write(one, 0).Commit(); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"config.json", "model.safetensors"}, names(t, one)); d != "" {
		t.Fatalf("one shard (-want +got):\n%s", d)
	}
	sharded := filepath.Join(dir, "sharded")
	if err := write(sharded, 20).Commit(); err != nil {
		t.Fatal(err)
	}
	want := []string{"config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"}
	if d := cmp.Diff(want, names(t, sharded)); d != "" {
		t.Fatalf("sharded (-want +got):\n%s", d)
	}
	ck, err := Open(sharded)
	if err != nil {
		t.Fatal(err)
	}
	if len(ck.Tensors) != 2 || FolderOf(ck) != sharded {
		t.Fatalf("reopened: %d tensors, folder %q", len(ck.Tensors), FolderOf(ck))
	}
	ck.Close()
	files, err := SideFiles(sharded)
	if err != nil || len(files) != 1 || string(files["config.json"]) != "{}\n" {
		t.Fatalf("side files %v %v", files, err)
	}
	gone := filepath.Join(dir, "aborted")
	write(gone, 0).Abort()
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Fatalf("an aborted folder output is left: %v", err)
	}
	if err := CheckOutput(filepath.Join(dir, "no", "such"), false, nil); err == nil {
		t.Fatal("a folder in a missing directory: no error")
	}
	w, err := Create(filepath.Join(dir, "file.safetensors"), tensors, nil, 0, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.AddFile("config.json", nil); err == nil {
		t.Fatal("AddFile on a file output: no error")
	}
	w.Abort()
}
