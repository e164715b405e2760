package model

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/internal/half"
)

// EmbeddingsTensor is the tensor name ReadEmbeddings looks for first in a
// safetensors file (scripts/clip_text_head.py writes it).
const EmbeddingsTensor = "embeddings"

// Embeddings are class embeddings computed elsewhere (CLIP's text tower on
// prompts naming each class): a classes x dim matrix, row-major.
type Embeddings struct {
	W            []float32
	Classes, Dim int
	Names        []string // from the file's distac.classes metadata, if any
}

// ReadEmbeddings reads a classes x dim matrix from a .npy file (float32,
// float64 or float16, C or Fortran order) or a safetensors file (the tensor
// "embeddings", "head", or the file's only tensor; F32, F16 or BF16).
func ReadEmbeddings(path string) (*Embeddings, error) {
	var em *Embeddings
	var err error
	if strings.HasSuffix(strings.ToLower(path), ".npy") {
		var data []byte
		if data, err = os.ReadFile(path); err == nil {
			em, err = parseNPY(data)
		}
	} else {
		em, err = readEmbeddingsST(path)
	}
	if err != nil {
		return nil, fmt.Errorf("embeddings %s: %w", path, err)
	}
	for i, v := range em.W {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("embeddings %s: non-finite value at class %d", path, i/em.Dim)
		}
	}
	return em, nil
}

func readEmbeddingsST(path string) (*Embeddings, error) {
	ck, err := checkpoint.Open(path)
	if err != nil {
		return nil, err
	}
	defer ck.Close()
	var t *checkpoint.Tensor
	for _, name := range []string{EmbeddingsTensor, HeadTensor} {
		if x, ok := ck.Tensor(name); ok && t == nil {
			t = x
		}
	}
	if t == nil && len(ck.Tensors) == 1 {
		t = ck.Tensors[0]
	}
	if t == nil {
		return nil, fmt.Errorf("no tensor %q (or a file of one tensor)", EmbeddingsTensor)
	}
	if len(t.Shape) != 2 || t.Shape[0] == 0 || t.Shape[1] == 0 {
		return nil, fmt.Errorf("tensor %q has shape %v, want (classes, dim)", t.Name, t.Shape)
	}
	if !checkpoint.IsComputeFloat(t.DType) {
		return nil, fmt.Errorf("tensor %q has dtype %s, want F32, F16 or BF16", t.Name, t.DType)
	}
	em := &Embeddings{Classes: int(t.Shape[0]), Dim: int(t.Shape[1])}
	if err := t.View(0, t.Numel, func(b []byte) (err error) { em.W, err = checkpoint.DecodeFloats(t.DType, b); return err }); err != nil {
		return nil, err
	}
	if s := ck.Files[0].Metadata[headNamesKey]; s != "" {
		em.Names = strings.Split(s, ",")
	}
	return em, nil
}

var (
	npyDescr   = regexp.MustCompile(`'descr'\s*:\s*'([^']*)'`)
	npyFortran = regexp.MustCompile(`'fortran_order'\s*:\s*(True|False)`)
	npyShape   = regexp.MustCompile(`'shape'\s*:\s*\(([^)]*)\)`)
)

// parseNPY reads a 2-D .npy array: the magic "\x93NUMPY", a version
// (1.0: a 2-byte header length; 2.0 and 3.0: 4 bytes), a Python dict
// literal header ({'descr': '<f4', 'fortran_order': False, 'shape': (r, c), })
// padded to 16 bytes, then the data.
func parseNPY(data []byte) (*Embeddings, error) {
	if len(data) < 10 || !bytes.Equal(data[:6], []byte("\x93NUMPY")) {
		return nil, fmt.Errorf("not a .npy file (no \\x93NUMPY magic)")
	}
	var hlen, start int
	switch data[6] {
	case 1:
		hlen, start = int(binary.LittleEndian.Uint16(data[8:10])), 10
	case 2, 3:
		if len(data) < 12 {
			return nil, fmt.Errorf("truncated .npy header")
		}
		hlen, start = int(binary.LittleEndian.Uint32(data[8:12])), 12
	default:
		return nil, fmt.Errorf(".npy version %d.%d (want 1, 2 or 3)", data[6], data[7])
	}
	if hlen > len(data)-start {
		return nil, fmt.Errorf(".npy header length %d runs past the end of the file", hlen)
	}
	hdr := string(data[start : start+hlen])
	body := data[start+hlen:]
	d, f, s := npyDescr.FindStringSubmatch(hdr), npyFortran.FindStringSubmatch(hdr), npyShape.FindStringSubmatch(hdr)
	if d == nil || f == nil || s == nil {
		return nil, fmt.Errorf(".npy header %q lacks descr, fortran_order or shape", strings.TrimSpace(hdr))
	}
	var dims []int
	for _, x := range strings.Split(s[1], ",") {
		if x = strings.TrimSpace(x); x == "" {
			continue
		}
		n, err := strconv.Atoi(x)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf(".npy shape (%s): want positive sizes", s[1])
		}
		dims = append(dims, n)
	}
	if len(dims) != 2 {
		return nil, fmt.Errorf(".npy shape (%s): want a (classes, dim) matrix", s[1])
	}
	rows, cols := dims[0], dims[1]
	if rows > math.MaxInt32/cols {
		return nil, fmt.Errorf(".npy shape (%s) is too large", s[1])
	}
	n := rows * cols
	var size int
	var dec func(b []byte) float32
	switch d[1] {
	case "<f4", "=f4":
		size, dec = 4, func(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }
	case "<f8", "=f8":
		size, dec = 8, func(b []byte) float32 { return float32(math.Float64frombits(binary.LittleEndian.Uint64(b))) }
	case "<f2", "=f2":
		size, dec = 2, func(b []byte) float32 { return half.F16ToF32(binary.LittleEndian.Uint16(b)) }
	default:
		return nil, fmt.Errorf(".npy dtype %q (want little-endian float32, float64 or float16)", d[1])
	}
	if len(body) != n*size {
		return nil, fmt.Errorf(".npy data has %d bytes, shape (%d, %d) of %s needs %d", len(body), rows, cols, d[1], n*size)
	}
	w := make([]float32, n)
	for i := range w {
		w[i] = dec(body[i*size:])
	}
	if f[1] == "True" { // column-major: element (r, c) at c*rows + r
		w = transpose(w, cols, rows)
	}
	return &Embeddings{W: w, Classes: rows, Dim: cols}, nil
}

// HeadWeights are CLIP's zero-shot head from class embeddings: row c =
// scale * e_c / ||e_c||, so logits = scale * cos(image, class), as CLIP
// computes them with scale = exp(logit_scale) (100 for OpenAI's weights).
func (em *Embeddings) HeadWeights(scale float64) ([]float32, error) {
	out := make([]float32, len(em.W))
	for c := range em.Classes {
		row := em.W[c*em.Dim : (c+1)*em.Dim]
		var ss float64
		for _, x := range row {
			ss += float64(x) * float64(x)
		}
		if ss == 0 {
			return nil, fmt.Errorf("class %d has a zero embedding", c)
		}
		k := scale / math.Sqrt(ss)
		for j, x := range row {
			out[c*em.Dim+j] = float32(k * float64(x))
		}
	}
	return out, nil
}
