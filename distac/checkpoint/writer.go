package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// OutTensor describes one tensor of an output checkpoint.
type OutTensor struct {
	Name  string
	DType DType
	Shape []uint64
}

func (t OutTensor) size() int64 {
	n, _ := NumElements(t.Shape)
	return int64(n) * int64(t.DType.Size())
}

// Writer writes a checkpoint into temporary files beside its target and
// moves them into place on Commit; Abort (or a failed Commit) removes them.
// Tensors may be written in any order and concurrently, in pieces.
type Writer struct {
	tensors   []OutTensor
	byName    map[string]int
	shardOf   []int   // tensor -> shard
	offset    []int64 // tensor -> absolute offset of its data in its shard
	written   []atomic.Int64
	shards    []*outShard
	indexPath string // "" for a single file
	indexMeta map[string]any
	replace   bool     // force: the final renames may replace existing files
	previous  []string // an earlier output's files the new one does not overwrite
	finished  bool
	folder    string      // a folder output's directory ("": a file output)
	madeDir   bool        // Create made folder: Abort removes it (when empty)
	extras    []extraFile // AddFile's files
	inputs    []string    // files never replaced
}

type outShard struct {
	final   string
	tmp     *os.File
	tmpPath string
	size    int64
}

// Outputs lists the final paths Create would write for out: the file
// itself, or the shards and the index when the data exceeds shardSize
// (shardSize <= 0: never shard).
func outputPaths(out string, tensors []OutTensor, shardSize int64) (files []string, groups [][]int, index string) {
	var total int64
	for _, t := range tensors {
		total += t.size()
	}
	all := make([]int, len(tensors))
	for i := range all {
		all[i] = i
	}
	if shardSize <= 0 || total <= shardSize {
		return []string{out}, [][]int{all}, ""
	}
	// Greedy in order: a shard takes tensors until the next would overflow it;
	// a tensor larger than shardSize gets a shard of its own.
	var cur []int
	var curSize int64
	for i, t := range tensors {
		if len(cur) > 0 && curSize+t.size() > shardSize {
			groups = append(groups, cur)
			cur, curSize = nil, 0
		}
		cur = append(cur, i)
		curSize += t.size()
	}
	groups = append(groups, cur)
	dir, base := filepath.Split(out)
	stem := strings.TrimSuffix(base, ".safetensors")
	for i := range groups {
		files = append(files, filepath.Join(dir, fmt.Sprintf("%s-%05d-of-%05d.safetensors", stem, i+1, len(groups))))
	}
	return files, groups, filepath.Join(dir, stem+".safetensors.index.json")
}

// Create starts writing tensors to out (see outputPaths for sharding; a
// directory, or a path that does not exist and ends in neither .safetensors
// nor .json, is a folder output: DIR/model.safetensors, made if needed and
// sharded at HFShardSize when shardSize is 0, as transformers writes a
// model; a symbolic link stands for its target). It refuses to replace an existing file unless force is set, also
// at the final rename (a concurrent writer of the same output loses rather
// than overwrites), and never replaces any of inputs. With force, the files
// of an earlier output to the same target that the new one does not
// overwrite (old shards) are removed once it is in place. meta goes into
// every shard's __metadata__ (and the index's "metadata").
func Create(out string, tensors []OutTensor, meta map[string]string, shardSize int64, force bool, inputs []string) (*Writer, error) {
	isFolder, isNew := folderOut(out)
	folder, madeDir := "", false
	if isFolder {
		folder = filepath.Clean(out)
		out = filepath.Join(folder, "model.safetensors")
		if shardSize == 0 {
			shardSize = HFShardSize
		}
	}
	if isNew {
		if err := checkDir(filepath.Dir(folder)); err != nil {
			return nil, err
		}
		if err := os.Mkdir(folder, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("output %s: %w", folder, err)
		} else if err == nil {
			madeDir = true
		}
	}
	unmake := func() {
		if madeDir {
			os.Remove(folder)
		}
	}
	out, err := resolveOut(out)
	if err != nil {
		unmake()
		return nil, err
	}
	files, groups, index := outputPaths(out, tensors, shardSize)
	finals := append([]string(nil), files...)
	if index != "" {
		finals = append(finals, index)
	}
	if err := checkDir(filepath.Dir(out)); err != nil {
		unmake()
		return nil, err
	}
	previous := previousOutputs(out, finals)
	for _, p := range append(finals, previous...) {
		if err := checkOutputPath(p, force, inputs); err != nil {
			unmake()
			return nil, err
		}
	}
	if err := checkModelName(out); err != nil {
		unmake()
		return nil, err
	}
	w := &Writer{
		tensors: tensors, byName: map[string]int{}, shardOf: make([]int, len(tensors)),
		offset: make([]int64, len(tensors)), written: make([]atomic.Int64, len(tensors)), indexPath: index,
		replace: force, previous: previous, folder: folder, madeDir: madeDir, inputs: inputs,
	}
	for i, t := range tensors {
		if _, dup := w.byName[t.Name]; dup {
			w.Abort()
			return nil, fmt.Errorf("output: tensor %q appears twice", t.Name)
		}
		w.byName[t.Name] = i
	}
	var total int64
	for si, g := range groups {
		hdr, offs, size, err := encodeHeader(tensors, g, meta)
		if err != nil {
			w.Abort()
			return nil, err
		}
		for k, ti := range g {
			w.shardOf[ti], w.offset[ti] = si, offs[k]
		}
		tmp, err := createTemp(files[si])
		if err != nil {
			w.Abort()
			return nil, fmt.Errorf("output: %w", err)
		}
		sh := &outShard{final: files[si], tmp: tmp, tmpPath: tmp.Name(), size: size}
		w.shards = append(w.shards, sh)
		if err := tmp.Truncate(size); err != nil {
			w.Abort()
			return nil, fmt.Errorf("output %s: %w", sh.final, err)
		}
		if err := reserve(tmp, size); err != nil {
			w.Abort()
			return nil, fmt.Errorf("output %s: %w", sh.final, err)
		}
		if _, err := tmp.WriteAt(hdr, 0); err != nil {
			w.Abort()
			return nil, fmt.Errorf("output %s: %w", sh.final, err)
		}
		total += size - int64(len(hdr))
	}
	if index != "" {
		w.indexMeta = map[string]any{"total_size": total}
		for k, v := range meta {
			w.indexMeta[k] = v
		}
	}
	return w, nil
}

// encodeHeader lays out tensors g of a shard: the header bytes (length,
// JSON padded with spaces to 8 bytes, as the safetensors package does), the
// absolute offset of each tensor's data and the file size.
func encodeHeader(tensors []OutTensor, g []int, meta map[string]string) ([]byte, []int64, int64, error) {
	var js bytes.Buffer
	js.WriteByte('{')
	if len(meta) > 0 {
		m, err := json.Marshal(meta) // map keys are sorted: deterministic
		if err != nil {
			return nil, nil, 0, err
		}
		js.WriteString(`"__metadata__":`)
		js.Write(m)
	}
	rel := make([]int64, len(g))
	var off int64
	for k, ti := range g {
		t := tensors[ti]
		name, _ := json.Marshal(t.Name)
		shape, _ := json.Marshal(t.Shape)
		if t.Shape == nil {
			shape = []byte("[]")
		}
		if k > 0 || len(meta) > 0 {
			js.WriteByte(',')
		}
		fmt.Fprintf(&js, `%s:{"dtype":"%s","shape":%s,"data_offsets":[%d,%d]}`, name, t.DType, shape, off, off+t.size())
		rel[k] = off
		off += t.size()
	}
	js.WriteByte('}')
	for js.Len()%8 != 0 {
		js.WriteByte(' ')
	}
	hdr := binary.LittleEndian.AppendUint64(nil, uint64(js.Len()))
	hdr = append(hdr, js.Bytes()...)
	for k := range rel {
		rel[k] += int64(len(hdr))
	}
	return hdr, rel, int64(len(hdr)) + off, nil
}

// WriteAt writes b at byte off of tensor ti's data. Safe for concurrent use.
func (w *Writer) WriteAt(ti int, off int64, b []byte) error {
	t := w.tensors[ti]
	if off < 0 || off+int64(len(b)) > t.size() {
		return fmt.Errorf("output: write of %d bytes at %d overruns tensor %q (%d bytes)", len(b), off, t.Name, t.size())
	}
	sh := w.shards[w.shardOf[ti]]
	if _, err := sh.tmp.WriteAt(b, w.offset[ti]+off); err != nil {
		return fmt.Errorf("output %s: tensor %q: %w", sh.final, t.Name, err)
	}
	w.written[ti].Add(int64(len(b)))
	return nil
}

// ReadAt reads back len(b) bytes at byte off of tensor ti's data, as
// written so far.
func (w *Writer) ReadAt(ti int, off int64, b []byte) error {
	t := w.tensors[ti]
	if off < 0 || off+int64(len(b)) > t.size() {
		return fmt.Errorf("output: read of %d bytes at %d overruns tensor %q (%d bytes)", len(b), off, t.Name, t.size())
	}
	sh := w.shards[w.shardOf[ti]]
	if _, err := sh.tmp.ReadAt(b, w.offset[ti]+off); err != nil {
		return fmt.Errorf("output %s: tensor %q: %w", sh.final, t.Name, err)
	}
	return nil
}

// Paths returns the final paths of the output (shards, then the index).
func (w *Writer) Paths() []string {
	var ps []string
	for _, s := range w.shards {
		ps = append(ps, s.final)
	}
	if w.indexPath != "" {
		ps = append(ps, w.indexPath)
	}
	return ps
}
