package checkpoint

import (
	"strings"
	"testing"
)

// FuzzParseHeader: parseHeader never panics, and whatever it accepts is a
// layout that is safe to slice: tensors sorted, inside the data section,
// not overlapping, and sized by dtype x shape.
func FuzzParseHeader(f *testing.F) {
	f.Add(rawFile(`{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}`, make([]byte, 16)))
	f.Add(rawFile(`{"a":{"dtype":"BF16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"I64","shape":[],"data_offsets":[6,14]}}`, make([]byte, 14)))
	f.Add(rawFile(`{"a":{"dtype":"F16","shape":[0],"data_offsets":[0,0]}}`, nil))
	f.Add(rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)))
	f.Add(rawFile(`{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}}`, make([]byte, 16)))
	f.Add(rawFile(`{"w":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}`, make([]byte, 1)))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Add([]byte("short"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHeader(b)
		if err != nil {
			if h != nil {
				t.Fatal("header returned with an error")
			}
			return
		}
		dataLen := int64(len(b)) - h.dataStart
		var prevEnd int64
		for _, ti := range h.tensors {
			n, err := NumElements(ti.shape)
			if err != nil {
				t.Fatalf("accepted tensor %q with bad shape: %v", ti.name, err)
			}
			if ti.begin < prevEnd || ti.end < ti.begin || ti.end > dataLen {
				t.Fatalf("accepted tensor %q at [%d, %d) after %d, data %d", ti.name, ti.begin, ti.end, prevEnd, dataLen)
			}
			if int64(n)*int64(ti.dtype.Size()) != ti.end-ti.begin {
				t.Fatalf("accepted tensor %q whose size does not match its shape", ti.name)
			}
			_ = b[h.dataStart+ti.begin : h.dataStart+ti.end] // must not panic
			prevEnd = ti.end
		}
	})
}

// FuzzParseIndex: parseIndex never panics and never accepts a shard name
// that would leave the index's directory.
func FuzzParseIndex(f *testing.F) {
	f.Add([]byte(`{"metadata":{"total_size":16},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}`))
	f.Add([]byte(`{"weight_map":{"a":"../escape.safetensors"}}`))
	f.Add([]byte(`{"weight_map":{}}`))
	f.Add([]byte(`{"weight_map":{"a":1}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, err := parseIndex(b)
		if err != nil {
			return
		}
		if len(idx.shards) == 0 {
			t.Fatal("accepted an index without shards")
		}
		for _, s := range idx.shards {
			if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\\\x00") {
				t.Fatalf("accepted shard name %q", s)
			}
		}
		for name, s := range idx.weightMap {
			if checkShardName(s) != nil {
				t.Fatalf("tensor %q maps to unsafe shard %q", name, s)
			}
		}
	})
}
