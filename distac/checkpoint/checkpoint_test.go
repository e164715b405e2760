package checkpoint

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nlpodyssey/safetensors"
)

// rawFile is a safetensors file with the given header JSON and data bytes.
func rawFile(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "neither") {
		t.Errorf("empty directory: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "nope.safetensors")); err == nil {
		t.Error("missing file opened")
	}
	p := filepath.Join(dir, "x.index.json")
	for js, want := range map[string]string{
		`{"weight_map":{"a":"../up.safetensors"}}`: "must be a file name",
		`{"weight_map":{}}`:                        "no weight_map entries",
		`nope`:                                     "not valid JSON",
	} {
		os.WriteFile(p, []byte(js), 0o644)
		if _, err := Open(p); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "x.index.json") {
			t.Errorf("index %s: %v, want %q", js, err, want)
		}
	}
}

// TestCheckOutput: the pre-flight check refuses what Create refuses.
func TestCheckOutput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.safetensors")
	if err := os.WriteFile(in, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		out   string
		force bool
		want  string // "" for no error
	}{
		{filepath.Join(dir, "new.safetensors"), false, ""},
		{in, true, "is an input"},
		{in, false, "is an input"},
		{filepath.Join(dir, "nodir", "x.safetensors"), false, "does not exist"},
		{dir, false, ""}, // DIR/model.safetensors, not there yet
	} {
		err := CheckOutput(c.out, c.force, []string{in})
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("CheckOutput(%s, force %v) = %v, want %q", c.out, c.force, err, c.want)
		}
	}
	other := filepath.Join(dir, "other.safetensors")
	if err := os.WriteFile(other, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckOutput(other, false, []string{in}); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("existing output without force: %v", err)
	}
	if err := CheckOutput(other, true, []string{in}); err != nil {
		t.Errorf("existing output with force: %v", err)
	}
}

// TestOutputMode: committed files are readable by all (0644), not the 0600
// of the temporary files they were written as.
func TestOutputMode(t *testing.T) {
	dir := t.TempDir()
	outs := []OutTensor{{Name: "a", DType: safetensors.F32, Shape: []uint64{4}}, {Name: "b", DType: safetensors.F32, Shape: []uint64{4}}}
	for _, shard := range []int64{0, 16} { // one file; two shards and an index
		out := filepath.Join(dir, fmt.Sprintf("m%d.safetensors", shard))
		w, err := Create(out, outs, nil, shard, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range outs {
			if err := w.WriteAt(i, 0, make([]byte, 16)); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	es, _ := os.ReadDir(dir)
	if len(es) != 4 {
		t.Fatalf("%d files, want 4 (one, two shards, an index)", len(es))
	}
	for _, e := range es {
		st, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o644 {
			t.Errorf("%s has mode %v, want 0644", e.Name(), st.Mode().Perm())
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"5GB": 5e9, "500MiB": 500 << 20, "1048576": 1 << 20, "1.5 kb": 1500, "0": 0, "2g": 2e9, "7B": 7} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "GB", "-1GB", "five", "1e300TB"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}
