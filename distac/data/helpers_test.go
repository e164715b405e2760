package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"strings"
	"testing"
)

// idxBytes is an IDX file: magic, big-endian dims, payload.
func idxBytes(magic uint32, dims []uint32, payload []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, magic)
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(payload)
	return b.Bytes()
}

func gzipBytes(t *testing.T, raw []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	if _, err := z.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// wantErr fails unless err is non-nil and its message contains every part.
func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not contain %q", err, p)
		}
	}
}

// synthSet is a labelled set whose value at image i, position j is a
// function of both, so copies and orders can be checked exactly.
func synthSet(n, c, h, w, classes int) *Set {
	s := &Set{Name: "synth", C: c, H: h, W: w, Classes: classes,
		Images: make([]float32, n*c*h*w), Labels: make([]int32, n)}
	for i := 0; i < n; i++ {
		s.Labels[i] = int32((i * 7) % classes)
		for j := 0; j < c*h*w; j++ {
			s.Images[i*c*h*w+j] = float32(i) + float32(j)/float32(c*h*w)
		}
	}
	return s
}

// imageID recovers i from an image of synthSet.
func imageID(img []float32) int { return int(img[0]) }
