package data

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/nlpodyssey/safetensors"
)

// Keys of the safetensors __metadata__ that WriteTensors writes and
// ReadTensors reads (all optional on reading).
const (
	metaName       = "name"
	metaClasses    = "classes"
	metaClassNames = "class_names" // a JSON array of strings
)

// ReadTensors reads a pre-processed set from a safetensors file: tensor
// "images" of shape (N, C, H, W) or (N, H, W), dtype F32, F16, BF16 or U8 (U8
// scaled to [0, 1]), and optionally "labels" of shape (N), dtype I32, I64 or
// U8. Image values must be finite and labels non-negative. Classes comes from
// the "classes" metadata when present (else max label + 1), class names from
// "class_names" (a JSON array); either way it is at most MaxClasses, or the
// number of labelled images when that is larger.
func ReadTensors(path string) (*Set, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tensors: %w", err)
	}
	s, err := decodeTensors(buf)
	if err != nil {
		return nil, fmt.Errorf("tensors %s: %w", path, err)
	}
	if s.Name == "" {
		s.Name = filepath.Base(path)
	}
	return s, nil
}

// decodeTensors parses a whole safetensors file held in buf.
func decodeTensors(buf []byte) (*Set, error) {
	n, md, err := safetensors.ReadMetadata(buf)
	if err != nil {
		return nil, fmt.Errorf("not a valid safetensors file: %w", err)
	}
	body := buf[8+n:]
	infos := md.Tensors()
	img, ok := infos["images"]
	if !ok {
		return nil, fmt.Errorf(`no tensor "images"`)
	}
	// The shape is checked before any arithmetic on it: with N = 0 the
	// library's byte count is 0 whatever C, H and W claim.
	count, c, h, w, err := imagesShape(img.Shape)
	if err != nil {
		return nil, fmt.Errorf(`tensor "images" has shape %v: %w`, img.Shape, err)
	}
	s := &Set{C: c, H: h, W: w}
	raw := body[img.DataOffsets[0]:img.DataOffsets[1]]
	if s.Images, err = decodeFloats(raw, img.DType); err != nil {
		return nil, fmt.Errorf(`tensor "images": %w`, err)
	}
	for i, v := range s.Images {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf(`tensor "images": value %d (image %d) is %v`, i, i/s.ImageSize(), v)
		}
	}

	if lab, ok := infos["labels"]; ok {
		if len(lab.Shape) != 1 || lab.Shape[0] != uint64(count) {
			return nil, fmt.Errorf(`tensor "labels" has shape %v, want (%d) to match "images" %v`, lab.Shape, count, img.Shape)
		}
		if s.Labels, err = decodeLabels(body[lab.DataOffsets[0]:lab.DataOffsets[1]], lab.DType); err != nil {
			return nil, fmt.Errorf(`tensor "labels": %w`, err)
		}
		top := int32(-1)
		for _, l := range s.Labels {
			top = max(top, l)
		}
		if err := checkClasses(int(top)+1, len(s.Labels)); err != nil {
			return nil, fmt.Errorf(`tensor "labels": label %d: %w`, top, err)
		}
		s.Classes = int(top) + 1
	}

	meta := md.Metadata()
	s.Name = meta[metaName]
	if v, ok := meta[metaClasses]; ok {
		c, err := strconv.Atoi(v)
		if err != nil || c < s.Classes {
			return nil, fmt.Errorf("metadata classes %q: want an integer at least max label + 1 = %d", v, s.Classes)
		}
		if err := checkClasses(c, len(s.Labels)); err != nil {
			return nil, fmt.Errorf("metadata classes %q: %w", v, err)
		}
		s.Classes = c
	}
	if v, ok := meta[metaClassNames]; ok {
		if err := json.Unmarshal([]byte(v), &s.ClassNames); err != nil {
			return nil, fmt.Errorf("metadata class_names: %w", err)
		}
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// decodeFloats converts little-endian F32/F16/BF16 (checkpoint.DecodeFloats)
// or U8 (scaled by 1/255) values to float32.
func decodeFloats(raw []byte, dt safetensors.DType) ([]float32, error) {
	if dt == safetensors.U8 {
		return bytesToUnit(raw), nil
	}
	if !checkpoint.IsComputeFloat(dt) {
		return nil, fmt.Errorf("dtype %v, want F32, F16, BF16 or U8", dt)
	}
	return checkpoint.DecodeFloats(dt, raw)
}

// decodeLabels converts little-endian I32/I64/U8 labels to int32, rejecting
// negative ones and I64 values past int32.
func decodeLabels(raw []byte, dt safetensors.DType) ([]int32, error) {
	var out []int32
	switch dt {
	case safetensors.I32:
		out = make([]int32, len(raw)/4)
		for i := range out {
			out[i] = int32(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case safetensors.I64:
		out = make([]int32, len(raw)/8)
		for i := range out {
			v := int64(binary.LittleEndian.Uint64(raw[8*i:]))
			if v < 0 || v > math.MaxInt32 {
				return nil, fmt.Errorf("label %d is %d", i, v)
			}
			out[i] = int32(v)
		}
	case safetensors.U8:
		out = make([]int32, len(raw))
		for i, v := range raw {
			out[i] = int32(v)
		}
	default:
		return nil, fmt.Errorf("dtype %v, want I32, I64 or U8", dt)
	}
	for i, l := range out {
		if l < 0 {
			return nil, fmt.Errorf("label %d is %d", i, l)
		}
	}
	return out, nil
}

// WriteTensors writes s as ReadTensors reads it: "images" F32 (N, C, H, W),
// "labels" I32 (N) when labelled, and the name, classes and class names as
// metadata. The file is written to a temporary name beside path, synced and
// renamed into place, so a reader never sees a partial file.
func WriteTensors(path string, s *Set) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("write tensors %s: %w", path, err)
	}
	imgBytes := make([]byte, 4*len(s.Images))
	for i, v := range s.Images {
		binary.LittleEndian.PutUint32(imgBytes[4*i:], math.Float32bits(v))
	}
	n := uint64(s.Len())
	views := map[string]safetensors.TensorView{}
	v, err := safetensors.NewTensorView(safetensors.F32, []uint64{n, uint64(s.C), uint64(s.H), uint64(s.W)}, imgBytes)
	if err != nil {
		return fmt.Errorf("write tensors %s: %w", path, err)
	}
	views["images"] = v
	meta := map[string]string{metaName: s.Name}
	if s.Labels != nil {
		lb := make([]byte, 4*len(s.Labels))
		for i, l := range s.Labels {
			binary.LittleEndian.PutUint32(lb[4*i:], uint32(l))
		}
		if views["labels"], err = safetensors.NewTensorView(safetensors.I32, []uint64{n}, lb); err != nil {
			return fmt.Errorf("write tensors %s: %w", path, err)
		}
		meta[metaClasses] = strconv.Itoa(s.Classes)
	}
	if len(s.ClassNames) > 0 {
		js, err := json.Marshal(s.ClassNames)
		if err != nil {
			return fmt.Errorf("write tensors %s: %w", path, err)
		}
		meta[metaClassNames] = string(js)
	}

	// Serialised in memory (the set is in memory already) and placed by the
	// checkpoint package's writer: a temporary beside path, registered so an
	// interrupted run removes it, synced and renamed into place.
	var buf bytes.Buffer
	if err := safetensors.SerializeToWriter(views, meta, &buf); err != nil {
		return fmt.Errorf("write tensors %s: %w", path, err)
	}
	if err := checkpoint.WriteFileAtomic(path, buf.Bytes(), true, nil); err != nil {
		return fmt.Errorf("write tensors: %w", err)
	}
	return nil
}
