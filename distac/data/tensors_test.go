package data

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nlpodyssey/safetensors"
)

// TestTensorsRoundTrip: WriteTensors then ReadTensors gives the set back
// bit for bit, metadata included, and leaves no temporary file.
func TestTensorsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := synthSet(7, 3, 2, 5, 4)
	s.Name = "colour"
	s.ClassNames = []string{"a", "b", "c \"quoted\"", "d"}
	s.Images[3] = -1.5 // normalised data is not limited to [0, 1]
	p := filepath.Join(dir, "set.safetensors")
	if err := WriteTensors(p, s); err != nil {
		t.Fatal(err)
	}
	got, err := ReadTensors(p)
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(got, s) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, s)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries after the write, want only the output", len(entries))
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}

	// Unlabelled: no labels tensor, Classes 0.
	u := &Set{Name: "u", C: 1, H: 2, W: 2, Images: []float32{0, 0.25, 0.5, 1}}
	if err := WriteTensors(p, u); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadTensors(p); err != nil || !cmp.Equal(got, u) {
		t.Fatalf("unlabelled round trip: %v, %+v", err, got)
	}
	// An inconsistent set is refused and the old file is left alone.
	bad := synthSet(2, 1, 2, 2, 2)
	bad.Labels[1] = 5
	if err := WriteTensors(p, bad); err == nil {
		t.Fatal("label 5 of 2 classes written")
	}
	if got, err := ReadTensors(p); err != nil || !cmp.Equal(got, u) {
		t.Fatalf("failed write disturbed the existing file: %v", err)
	}
}

// writeRaw writes a safetensors file with the given tensors via the library.
func writeRaw(t *testing.T, path string, tensors map[string]safetensors.TensorView, meta map[string]string) {
	t.Helper()
	writeFile(t, path, rawTensors(t, tensors, meta))
}

// rawTensors is the bytes of a safetensors file with the given tensors.
func rawTensors(t testing.TB, tensors map[string]safetensors.TensorView, meta map[string]string) []byte {
	t.Helper()
	b, err := safetensors.Serialize(tensors, meta)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func view(t testing.TB, dt safetensors.DType, shape []uint64, data []byte) safetensors.TensorView {
	t.Helper()
	v, err := safetensors.NewTensorView(dt, shape, data)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestTensorsDTypes: F16, BF16 and U8 images and I64 and U8 labels are
// widened exactly; (N, H, W) images read as one channel.
func TestTensorsDTypes(t *testing.T) {
	dir := t.TempDir()
	// 1.0, -2.0, 0.5, 2^-24 (smallest subnormal), 65504 (largest), -0.
	f16 := []uint16{0x3c00, 0xc000, 0x3800, 0x0001, 0x7bff, 0x8000}
	f16Want := []float32{1, -2, 0.5, float32(math.Ldexp(1, -24)), 65504, float32(math.Copysign(0, -1))}
	bf16 := []uint16{0x3f80, 0xc000, 0x3f00, 0x0001, 0x7f7f, 0x8000}
	bf16Want := []float32{1, -2, 0.5, math.Float32frombits(0x10000), math.Float32frombits(0x7f7f0000), float32(math.Copysign(0, -1))}
	le16 := func(v []uint16) []byte {
		b := make([]byte, 2*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint16(b[2*i:], x)
		}
		return b
	}
	labels64 := make([]byte, 16)
	binary.LittleEndian.PutUint64(labels64, 3)
	binary.LittleEndian.PutUint64(labels64[8:], 1)
	for _, c := range []struct {
		name string
		img  safetensors.TensorView
		want []float32
	}{
		{"f16", view(t, safetensors.F16, []uint64{2, 1, 1, 3}, le16(f16)), f16Want},
		{"bf16", view(t, safetensors.BF16, []uint64{2, 3, 1, 1}, le16(bf16)), bf16Want},
		{"u8", view(t, safetensors.U8, []uint64{2, 1, 3}, []byte{0, 51, 255, 1, 2, 3}), []float32{0, 0.2, 1, 1.0 / 255, 2.0 / 255, 3.0 / 255}},
	} {
		p := filepath.Join(dir, c.name+".safetensors")
		writeRaw(t, p, map[string]safetensors.TensorView{"images": c.img, "labels": view(t, safetensors.I64, []uint64{2}, labels64)}, nil)
		s, err := ReadTensors(p)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for i, v := range s.Images {
			if math.Float32bits(v) != math.Float32bits(c.want[i]) {
				t.Fatalf("%s: value %d = %v, want %v", c.name, i, v, c.want[i])
			}
		}
		if s.Len() != 2 || s.ImageSize() != 3 || s.Classes != 4 || !cmp.Equal(s.Labels, []int32{3, 1}) || s.Name != c.name+".safetensors" {
			t.Fatalf("%s: N=%d size %d classes %d labels %v name %q", c.name, s.Len(), s.ImageSize(), s.Classes, s.Labels, s.Name)
		}
	}
	p := filepath.Join(dir, "u8labels.safetensors")
	writeRaw(t, p, map[string]safetensors.TensorView{
		"images": view(t, safetensors.U8, []uint64{3, 1, 1, 1}, []byte{1, 2, 3}),
		"labels": view(t, safetensors.U8, []uint64{3}, []byte{2, 0, 9}),
	}, map[string]string{"classes": "12"})
	if s, err := ReadTensors(p); err != nil || !cmp.Equal(s.Labels, []int32{2, 0, 9}) || s.Classes != 12 {
		t.Fatalf("u8 labels: %v %+v", err, s)
	}
}

// TestTensorsMalformed: each bad file is rejected with its name and the
// tensor at fault.
func TestTensorsMalformed(t *testing.T) {
	dir := t.TempDir()
	f32 := func(v ...float32) []byte {
		b := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
		return b
	}
	i32 := func(v ...int32) []byte {
		b := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
		}
		return b
	}
	type tv = map[string]safetensors.TensorView
	cases := []struct {
		name    string
		tensors tv
		meta    map[string]string
		msg     string
	}{
		{"no images", tv{"x": view(t, safetensors.F32, []uint64{1}, f32(1))}, nil, `no tensor "images"`},
		{"2-d images", tv{"images": view(t, safetensors.F32, []uint64{2, 1}, f32(1, 2))}, nil, "shape [2 1]"},
		{"empty images", tv{"images": view(t, safetensors.F32, []uint64{2, 0, 1, 1}, nil)}, nil, "empty images"},
		{"f64 images", tv{"images": view(t, safetensors.F64, []uint64{1, 1, 1, 1}, make([]byte, 8))}, nil, "dtype F64"},
		{"nan", tv{"images": view(t, safetensors.F32, []uint64{2, 1, 1, 1}, f32(0, float32(math.NaN())))}, nil, "image 1"},
		{"label count", tv{"images": view(t, safetensors.F32, []uint64{2, 1, 1, 1}, f32(0, 1)),
			"labels": view(t, safetensors.I32, []uint64{3}, i32(0, 1, 2))}, nil, `"labels" has shape [3]`},
		{"negative label", tv{"images": view(t, safetensors.F32, []uint64{2, 1, 1, 1}, f32(0, 1)),
			"labels": view(t, safetensors.I32, []uint64{2}, i32(0, -1))}, nil, "label 1 is -1"},
		{"f32 labels", tv{"images": view(t, safetensors.F32, []uint64{1, 1, 1, 1}, f32(0)),
			"labels": view(t, safetensors.F32, []uint64{1}, f32(0))}, nil, "dtype F32"},
		{"classes too few", tv{"images": view(t, safetensors.F32, []uint64{1, 1, 1, 1}, f32(0)),
			"labels": view(t, safetensors.I32, []uint64{1}, i32(4))}, map[string]string{"classes": "3"}, "classes"},
		{"class names", tv{"images": view(t, safetensors.F32, []uint64{1, 1, 1, 1}, f32(0)),
			"labels": view(t, safetensors.I32, []uint64{1}, i32(1))}, map[string]string{"class_names": `["a"]`}, "1 class names for 2 classes"},
	}
	for _, c := range cases {
		p := filepath.Join(dir, "bad.safetensors")
		writeRaw(t, p, c.tensors, c.meta)
		_, err := ReadTensors(p)
		t.Run(c.name, func(t *testing.T) { wantErr(t, err, p, c.msg) })
	}
	p := filepath.Join(dir, "short.safetensors")
	writeFile(t, p, []byte{1, 2, 3})
	_, err := ReadTensors(p)
	wantErr(t, err, p, "not a valid safetensors file")
	_, err = ReadTensors(filepath.Join(dir, "absent"))
	wantErr(t, err, filepath.Join(dir, "absent"))
	err = WriteTensors(filepath.Join(dir, "no", "such", "dir.safetensors"), synthSet(1, 1, 1, 1, 1))
	wantErr(t, err, "write tensors")
}

// TestTensorsHugeShape: a shape whose sizes overflow or exceed the limits is
// an error naming the file and the tensor, even with no data behind it (N =
// 0 makes the library's byte count 0, so only our own checks see it).
func TestTensorsHugeShape(t *testing.T) {
	dir := t.TempDir()
	for _, shape := range [][]uint64{
		{0, 1 << 32, 1 << 32, 1}, // C*H*W wraps to exactly 0 in 64 bits
		{0, 1 << 63, 1, 1},       // negative as an int
		{0, 1 << 31, 1 << 31},    // (N, H, W): 2^62 values per image
		{0, 3, 1 << 40, 1 << 20}, // fits in int, past the per-image limit
		{1 << 63, 0, 1, 1},       // zero channels, N negative as an int
	} {
		p := filepath.Join(dir, "huge.safetensors")
		writeRaw(t, p, map[string]safetensors.TensorView{"images": view(t, safetensors.F32, shape, nil)}, nil)
		_, err := ReadTensors(p)
		wantErr(t, err, p, `tensor "images"`)
	}
	// An empty set of sane geometry is still read.
	p := filepath.Join(dir, "empty.safetensors")
	writeRaw(t, p, map[string]safetensors.TensorView{"images": view(t, safetensors.F32, []uint64{0, 3, 4, 5}, nil)}, nil)
	s, err := ReadTensors(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{0, 3, 4, 5}, []int{s.Len(), s.C, s.H, s.W}); diff != "" {
		t.Errorf("empty set N, C, H, W (-want +got):\n%s", diff)
	}
}

// TestTensorsClassesBound: a class count is bounded by what the file can
// hold, whether the metadata or a label states it, so a tiny file cannot
// make a head of classes x features allocate gigabytes.
func TestTensorsClassesBound(t *testing.T) {
	dir := t.TempDir()
	two := view(t, safetensors.U8, []uint64{2, 1, 1, 1}, []byte{0, 1})
	for name, c := range map[string]struct {
		tensors map[string]safetensors.TensorView
		meta    map[string]string
		msg     string
	}{
		"metadata": {map[string]safetensors.TensorView{"images": two, "labels": view(t, safetensors.U8, []uint64{2}, []byte{0, 1})},
			map[string]string{"classes": "2000000000"}, `metadata classes "2000000000"`},
		"unlabelled": {map[string]safetensors.TensorView{"images": two},
			map[string]string{"classes": "2000000000"}, `metadata classes "2000000000"`},
		"label": {map[string]safetensors.TensorView{"images": two, "labels": view(t, safetensors.I32, []uint64{2}, binary.LittleEndian.AppendUint32([]byte{0, 0, 0, 0}, 2e9))},
			nil, `tensor "labels": label 2000000000`},
	} {
		p := filepath.Join(dir, name+".safetensors")
		writeRaw(t, p, c.tensors, c.meta)
		_, err := ReadTensors(p)
		t.Run(name, func(t *testing.T) { wantErr(t, err, p, c.msg, "65536") })
	}

	// Past MaxClasses, one class per labelled image is still a set.
	n := MaxClasses + 10
	lab := make([]byte, 0, 4*n)
	for i := range n {
		lab = binary.LittleEndian.AppendUint32(lab, uint32(i))
	}
	p := filepath.Join(dir, "many.safetensors")
	writeRaw(t, p, map[string]safetensors.TensorView{
		"images": view(t, safetensors.U8, []uint64{uint64(n), 1, 1}, make([]byte, n)),
		"labels": view(t, safetensors.I32, []uint64{uint64(n)}, lab),
	}, map[string]string{"classes": fmt.Sprint(n)})
	s, err := ReadTensors(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{n, n}, []int{s.Len(), s.Classes}); diff != "" {
		t.Errorf("N, classes (-want +got):\n%s", diff)
	}
}

// FuzzDecodeTensors: arbitrary bytes never panic the safetensors data-set
// decoder (nor make it allocate past a small multiple of their length), and
// what it accepts is a valid set holding exactly the images its shape states.
func FuzzDecodeTensors(f *testing.F) {
	type tv = map[string]safetensors.TensorView
	u8 := view(f, safetensors.U8, []uint64{2, 1, 1, 2}, []byte{0, 1, 2, 255})
	f.Add(rawTensors(f, tv{"images": u8, "labels": view(f, safetensors.U8, []uint64{2}, []byte{1, 0})},
		map[string]string{"name": "s", "classes": "3", "class_names": `["a","b","c"]`}))
	f.Add(rawTensors(f, tv{"images": view(f, safetensors.F16, []uint64{1, 2, 1}, []byte{0, 0x3c, 0, 0xc0})}, nil))
	f.Add(rawTensors(f, tv{"images": view(f, safetensors.F32, []uint64{0, 1 << 32, 1 << 32, 1}, nil)}, nil))
	f.Add(rawTensors(f, tv{"images": u8}, map[string]string{"classes": "2000000000"}))
	f.Add(rawTensors(f, tv{"images": u8, "labels": view(f, safetensors.I64, []uint64{2}, make([]byte, 16))}, nil))
	f.Add([]byte{})
	f.Add([]byte{8, 0, 0, 0, 0, 0, 0, 0, '{', '}'})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeTensors(b)
		if err != nil {
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("accepted an invalid set: %v", err)
		}
		if n := s.Len(); len(s.Images) != n*s.ImageSize() || len(s.Images) > len(b) || (s.Labels != nil && len(s.Labels) != n) {
			t.Fatalf("%d values, %d labels for N=%d of %dx%dx%d from %d bytes", len(s.Images), len(s.Labels), n, s.C, s.H, s.W, len(b))
		}
	})
}
