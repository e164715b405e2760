package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/nlpodyssey/safetensors"
)

// maxHeaderLen is the largest header safetensors accepts (100 MB).
const maxHeaderLen = 100_000_000

// tensorInfo is one tensor of a parsed header; begin and end are byte offsets
// into the data section (after the 8-byte length and the JSON header).
type tensorInfo struct {
	name       string
	dtype      DType
	shape      []uint64
	begin, end int64
}

// header is a parsed and validated safetensors header.
type header struct {
	dataStart int64        // 8 + header length
	tensors   []tensorInfo // sorted by offset
	metadata  map[string]string
}

// rawTensorInfo is a header entry before validation.
type rawTensorInfo struct {
	DType       *string   `json:"dtype"`
	Shape       *[]uint64 `json:"shape"`
	DataOffsets *[]uint64 `json:"data_offsets"`
}

// parseHeader validates the header of a safetensors file whose bytes are
// buf (the whole file) and returns its tensors. It names the offending
// tensor for every per-tensor problem, then lets the safetensors package
// parse the header as the final authority (it also rejects gaps between
// tensors and bytes after the last one).
func parseHeader(buf []byte) (*header, error) {
	size := int64(len(buf))
	if size < 8 {
		return nil, fmt.Errorf("truncated: %d bytes, a safetensors file starts with an 8-byte header length", size)
	}
	n := binary.LittleEndian.Uint64(buf[:8])
	if n > maxHeaderLen {
		return nil, fmt.Errorf("header length %d is over the %d-byte limit (not a safetensors file?)", n, maxHeaderLen)
	}
	if int64(n) > size-8 {
		return nil, fmt.Errorf("header length %d runs past the end of the file (%d bytes): truncated or not a safetensors file", n, size)
	}
	dataStart := 8 + int64(n)
	dataLen := size - dataStart

	var raw map[string]json.RawMessage
	if err := json.Unmarshal(buf[8:dataStart], &raw); err != nil {
		return nil, fmt.Errorf("header is not a JSON object: %w", err)
	}
	h := &header{dataStart: dataStart}
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &h.metadata); err != nil {
				return nil, fmt.Errorf("__metadata__ must map strings to strings: %w", err)
			}
			continue
		}
		ti, err := parseTensorInfo(name, msg, dataLen)
		if err != nil {
			return nil, err
		}
		h.tensors = append(h.tensors, ti)
	}
	sort.Slice(h.tensors, func(i, j int) bool {
		a, b := h.tensors[i], h.tensors[j]
		if a.begin != b.begin {
			return a.begin < b.begin
		}
		if a.end != b.end {
			return a.end < b.end
		}
		return a.name < b.name
	})
	for i := 1; i < len(h.tensors); i++ {
		a, b := h.tensors[i-1], h.tensors[i]
		if b.begin < a.end {
			return nil, fmt.Errorf("tensors %q [%d, %d) and %q [%d, %d) overlap", a.name, a.begin, a.end, b.name, b.begin, b.end)
		}
	}
	// The package's own parser must agree; it also insists that tensors are
	// packed without gaps and end exactly at the end of the file.
	if _, md, err := safetensors.ReadMetadata(buf); err != nil {
		return nil, fmt.Errorf("invalid safetensors layout: %w", err)
	} else if len(md.Tensors()) != len(h.tensors) {
		return nil, fmt.Errorf("invalid safetensors header: %d tensors, the safetensors parser sees %d", len(h.tensors), len(md.Tensors()))
	}
	return h, nil
}

// parseTensorInfo checks one header entry against a data section of
// dataLen bytes.
func parseTensorInfo(name string, msg json.RawMessage, dataLen int64) (tensorInfo, error) {
	var r rawTensorInfo
	dec := json.NewDecoder(bytes.NewReader(msg))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return tensorInfo{}, fmt.Errorf("tensor %q: bad header entry: %w", name, err)
	}
	if r.DType == nil || r.Shape == nil || r.DataOffsets == nil {
		return tensorInfo{}, fmt.Errorf("tensor %q: header entry needs dtype, shape and data_offsets", name)
	}
	dt, err := safetensors.ParseDType(*r.DType)
	if err != nil {
		return tensorInfo{}, fmt.Errorf("tensor %q: unknown dtype %q", name, *r.DType)
	}
	off := *r.DataOffsets
	if len(off) != 2 {
		return tensorInfo{}, fmt.Errorf("tensor %q: data_offsets has %d entries, want 2", name, len(off))
	}
	if off[0] > off[1] {
		return tensorInfo{}, fmt.Errorf("tensor %q: data_offsets [%d, %d] end before they begin", name, off[0], off[1])
	}
	if off[1] > uint64(dataLen) {
		return tensorInfo{}, fmt.Errorf("tensor %q: data_offsets [%d, %d] run past the data section of %d bytes (file truncated?)", name, off[0], off[1], dataLen)
	}
	numel, err := NumElements(*r.Shape)
	if err != nil {
		return tensorInfo{}, fmt.Errorf("tensor %q: %w", name, err)
	}
	if want := numel * dt.Size(); want != off[1]-off[0] {
		return tensorInfo{}, fmt.Errorf("tensor %q: shape %v of %s needs %d bytes, data_offsets [%d, %d] hold %d", name, *r.Shape, dt, want, off[0], off[1], off[1]-off[0])
	}
	return tensorInfo{name: name, dtype: dt, shape: *r.Shape, begin: int64(off[0]), end: int64(off[1])}, nil
}

// File is one safetensors file mapped into memory.
type File struct {
	Path     string
	data     []byte   // the whole file, mapped read-only
	fd       *os.File // the open file, for Tensor.ReadTo (nil for FromMemory)
	hdr      *header
	Metadata map[string]string
	stamp    fileStamp // the file when it was opened (Changed)
	inMemory bool      // data is a caller's buffer (FromMemory), not a mapping
}

// OpenFile maps path and validates its header. Every error names the file.
func OpenFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	file, err := openMapped(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	return file, nil
}

// openMapped maps the open file f and validates its header; the File keeps
// f open for ReadTo.
func openMapped(f *os.File, path string) (*File, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory", path)
	}
	if st.Size() < 8 {
		return nil, malformed(fmt.Errorf("%s: truncated: %d bytes, a safetensors file starts with an 8-byte header length", path, st.Size()))
	}
	data, err := mapFile(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: mmap: %w", path, err)
	}
	file := &File{Path: path, data: data, fd: f, stamp: stampOf(st)}
	if err := file.guard(func() error { file.hdr, err = parseHeader(data); return malformed(err) }); err != nil {
		unmap(data)
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	file.Metadata = file.hdr.metadata
	return file, nil
}

// Close unmaps the file and closes it.
func (f *File) Close() error {
	if f == nil || f.data == nil {
		return nil
	}
	err := unmap(f.data)
	f.data = nil
	if f.fd != nil {
		if cerr := f.fd.Close(); err == nil {
			err = cerr
		}
		f.fd = nil
	}
	return err
}
