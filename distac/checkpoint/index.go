package checkpoint

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// IndexName is the conventional name of a sharded checkpoint's index.
const IndexName = "model.safetensors.index.json"

// shardIndex is a parsed model.safetensors.index.json.
type shardIndex struct {
	weightMap map[string]string // tensor name -> shard file name
	shards    []string          // distinct shard names, sorted
	metadata  map[string]any
}

// parseIndex validates an index: a JSON object with a non-empty weight_map
// from tensor names to shard files. Shard names must be plain file names in
// the index's directory (no separators, no "..").
func parseIndex(data []byte) (*shardIndex, error) {
	var raw struct {
		Metadata  map[string]any    `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("index is not valid JSON of the form {\"weight_map\": {name: shard}}: %w", err)
	}
	if len(raw.WeightMap) == 0 {
		return nil, fmt.Errorf("index has no weight_map entries")
	}
	seen := map[string]bool{}
	idx := &shardIndex{weightMap: raw.WeightMap, metadata: raw.Metadata}
	for name, shard := range raw.WeightMap {
		if err := checkShardName(shard); err != nil {
			return nil, fmt.Errorf("index entry %q: %w", name, err)
		}
		if !seen[shard] {
			seen[shard] = true
			idx.shards = append(idx.shards, shard)
		}
	}
	sort.Strings(idx.shards)
	return idx, nil
}

func checkShardName(s string) error {
	switch {
	case s == "" || s == "." || s == "..":
		return fmt.Errorf("shard name %q is not a file name", s)
	case strings.ContainsAny(s, "/\\\x00"):
		return fmt.Errorf("shard name %q must be a file name in the index's directory", s)
	}
	return nil
}

// Tensor is one tensor of a checkpoint: its bytes live in a mapped file.
type Tensor struct {
	Name  string
	DType DType
	Shape []uint64
	Numel int
	file  *File
	begin int64 // absolute offset of the first byte in file.data
}

// ElemSize is the size in bytes of one element.
func (t *Tensor) ElemSize() int { return int(t.DType.Size()) }

// Bytes returns the mapped bytes of elements [lo, hi). Reading them faults,
// and crashes the process, if the file shrinks meanwhile: View turns that
// into an error.
func (t *Tensor) Bytes(lo, hi int) []byte {
	s := int64(t.ElemSize())
	return t.file.data[t.begin+int64(lo)*s : t.begin+int64(hi)*s]
}

// Path is the file holding the tensor.
func (t *Tensor) Path() string { return t.file.Path }

// Checkpoint is a model: one safetensors file, or the shards of an index.
type Checkpoint struct {
	Path    string // what the user named: a file, an index or a directory
	Files   []*File
	Tensors []*Tensor // in file order (shards in index order, then offset)
	byName  map[string]*Tensor
}

// Open opens a .safetensors file, a model.safetensors.index.json
// (any *.index.json) with its shards, or a directory holding either.
func Open(path string) (*Checkpoint, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		idx := filepath.Join(path, IndexName)
		if _, err := os.Stat(idx); err == nil {
			return openIndexed(path, idx)
		}
		single := filepath.Join(path, "model.safetensors")
		if _, err := os.Stat(single); err != nil {
			return nil, malformed(fmt.Errorf("%s: directory has neither %s nor model.safetensors", path, IndexName))
		}
		return openSingle(path, single)
	}
	if strings.HasSuffix(path, ".json") {
		return openIndexed(path, path)
	}
	return openSingle(path, path)
}

func openSingle(display, file string) (*Checkpoint, error) {
	f, err := OpenFile(file)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{Path: display, byName: map[string]*Tensor{}}
	if err := c.addFile(f); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func openIndexed(display, indexPath string) (*Checkpoint, error) {
	data, err := os.ReadFile(indexPath)
	if err != nil {
		return nil, err
	}
	idx, err := parseIndex(data)
	if err != nil {
		return nil, malformed(fmt.Errorf("%s: %w", indexPath, err))
	}
	c := &Checkpoint{Path: display, byName: map[string]*Tensor{}}
	dir := filepath.Dir(indexPath)
	for _, shard := range idx.shards {
		p := filepath.Join(dir, shard)
		if _, err := os.Stat(p); err != nil {
			c.Close()
			return nil, malformed(fmt.Errorf("%s: shard %s is missing: %w", indexPath, shard, err))
		}
		f, err := OpenFile(p)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("%s: %w", indexPath, err)
		}
		if err := c.addFile(f); err != nil {
			c.Close()
			return nil, malformed(fmt.Errorf("%s: %w", indexPath, err))
		}
	}
	// The index and the shards must agree tensor for tensor.
	for name, shard := range idx.weightMap {
		t, ok := c.byName[name]
		if !ok || filepath.Base(t.file.Path) != shard {
			c.Close()
			return nil, malformed(fmt.Errorf("%s: tensor %q is not in shard %s", indexPath, name, shard))
		}
	}
	for _, t := range c.Tensors {
		if _, ok := idx.weightMap[t.Name]; !ok {
			c.Close()
			return nil, malformed(fmt.Errorf("%s: tensor %q of shard %s is not in the index", indexPath, t.Name, filepath.Base(t.file.Path)))
		}
	}
	return c, nil
}

// addFile appends f's tensors; a tensor in two shards is an error.
func (c *Checkpoint) addFile(f *File) error {
	c.Files = append(c.Files, f)
	for _, ti := range f.hdr.tensors {
		if prev, dup := c.byName[ti.name]; dup {
			return fmt.Errorf("tensor %q is in both %s and %s", ti.name, prev.file.Path, f.Path)
		}
		numel, _ := NumElements(ti.shape) // validated by parseHeader
		t := &Tensor{Name: ti.name, DType: ti.dtype, Shape: ti.shape, Numel: int(numel), file: f, begin: f.hdr.dataStart + ti.begin}
		c.Tensors = append(c.Tensors, t)
		c.byName[ti.name] = t
	}
	return nil
}

// Tensor looks a tensor up by name.
func (c *Checkpoint) Tensor(name string) (*Tensor, bool) {
	t, ok := c.byName[name]
	return t, ok
}

// Close unmaps every file of the checkpoint.
func (c *Checkpoint) Close() error {
	if c == nil {
		return nil
	}
	var first error
	for _, f := range c.Files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	c.Files = nil
	return first
}
