package data

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image/color"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// pngClaiming is a 1 x 1 gray PNG whose header is rewritten to claim w x h
// pixels (CRC fixed): a few dozen bytes that a decoder would allocate w*h
// bytes for before finding the data short.
func pngClaiming(t testing.TB, w, h uint32) []byte {
	t.Helper()
	b := pngBytes(t, grayImage(1, 1, 7))
	// 8-byte signature, then IHDR: length (4), type (4) at 12, width and
	// height at 16 and 20, 5 more bytes, CRC over type and data at 29.
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

// allocated runs f and returns the bytes the heap grew by meanwhile.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestImagePixelLimit: an image whose header states more pixels than the
// limit is refused before it is decoded (naming the file, its size and the
// option that raises the limit); the default limit is DefaultMaxPixels and
// MaxPixels raises or lowers it. opencv-digits' sheet is checked the same
// way against its one valid size.
func TestImagePixelLimit(t *testing.T) {
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.png")
	writeFile(t, huge, pngClaiming(t, 20000, 20000))
	var err error
	if n := allocated(func() { _, err = ReadImageFolder(dir, Preprocess{Size: 8, Channels: 1}) }); n > 16<<20 {
		t.Errorf("a %d-pixel header made the reader allocate %d MB", 20000*20000, n>>20)
	}
	wantErr(t, err, huge, "20000x20000", fmt.Sprint(DefaultMaxPixels), "MaxPixels")
	if err := os.Remove(huge); err != nil {
		t.Fatal(err)
	}

	// 40 x 30 = 1200 pixels: over a limit of 1000, within one of 1200.
	writeFile(t, filepath.Join(dir, "a.png"), pngBytes(t, grayImage(40, 30, 255)))
	_, err = ReadImageFolder(dir, Preprocess{Size: 8, Channels: 1, MaxPixels: 1000})
	wantErr(t, err, "a.png", "40x30", "1000")
	s, err := ReadImageFolder(dir, Preprocess{Size: 8, Channels: 1, MaxPixels: 1200})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{1, 1, 8, 8}, []int{s.Len(), s.C, s.H, s.W}); diff != "" {
		t.Errorf("N, C, H, W (-want +got):\n%s", diff)
	}
	_, err = ReadImageFolder(dir, Preprocess{Size: 8, Channels: 1, MaxPixels: -1})
	wantErr(t, err, "MaxPixels -1")

	oc := t.TempDir()
	writeFile(t, filepath.Join(oc, opencvDigitsFile), pngClaiming(t, 20000, 20000))
	if n := allocated(func() { _, _, err = Load("opencv-digits", LoadOptions{Root: oc}) }); n > 16<<20 {
		t.Errorf("a %d-pixel digits.png header made the reader allocate %d MB", 20000*20000, n>>20)
	}
	wantErr(t, err, filepath.Join(oc, opencvDigitsFile), "20000x20000", "2000x1000")
}

// TestImageExtremeAspect: a 200000 x 1 strip, within the pixel limit, is
// resized to 3200000 x 16 and cropped to 16 x 16: only the crop's filter
// taps are computed, not 3.2 million of them.
func TestImageExtremeAspect(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "strip.png"), pngBytes(t, grayImage(200000, 1, 51)))
	var s *Set
	var err error
	if n := allocated(func() { s, err = ReadImageFolder(dir, Preprocess{Size: 16, Channels: 1}) }); n > 16<<20 {
		t.Errorf("a 200000 x 1 image made the reader allocate %d MB", n>>20)
	}
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, 16*16)
	for i := range want {
		want[i] = 51.0 / 255
	}
	if diff := cmp.Diff(want, s.Image(0), cmpopts.EquateApprox(0, 1e-6)); diff != "" {
		t.Errorf("a uniform strip resized (-want +got):\n%s", diff)
	}
}

// TestTriangleWindow: a window's taps are exactly those of the same outputs
// of the full resize.
func TestTriangleWindow(t *testing.T) {
	for _, c := range [][4]int{{8, 28, 0, 28}, {28, 8, 2, 4}, {1000, 28, 27, 1}, {3, 90, 40, 3}, {1, 5, 1, 3}} {
		in, out, from, n := c[0], c[1], c[2], c[3]
		full := triangleWeights(in, out)
		want := axisWeights{start: full.start[from : from+n], w: full.w[from : from+n]}
		if diff := cmp.Diff(want, triangleWindow(in, out, from, n), cmp.AllowUnexported(axisWeights{})); diff != "" {
			t.Errorf("%v (-full resize +window):\n%s", c, diff)
		}
	}
}

// FuzzPreprocessImage: arbitrary bytes never panic the image decode path
// (header check, decode, colour conversion, resize), and an image it accepts
// gives Size x Size values per channel in [0, 1]. The pixel limit is low so
// that a mutated header cannot make one run allocate much.
func FuzzPreprocessImage(f *testing.F) {
	f.Add(pngBytes(f, grayImage(7, 3, 200)), false)
	f.Add(pngBytes(f, rgbaImage(2, 9, color.NRGBA{10, 200, 30, 128})), true)
	f.Add(jpegBytes(f, rgbaImage(12, 12, color.NRGBA{250, 5, 5, 255})), true)
	f.Add(pngBytes(f, grayImage(3000, 1, 9)), false) // a strip: most of the resize is cropped away
	f.Add(pngClaiming(f, 20000, 20000), false)
	f.Add([]byte("\x89PNG\r\n\x1a\n"), true)
	f.Fuzz(func(t *testing.T, b []byte, rgb bool) {
		p := Preprocess{Size: 5, Channels: 1, MaxPixels: 1 << 16}
		if rgb {
			p.Channels = 3
		}
		dst := make([]float32, p.Channels*p.Size*p.Size)
		if err := preprocessImage(bytes.NewReader(b), p, dst); err != nil {
			return
		}
		for i, v := range dst {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("value %d is %v, want [0, 1]", i, v)
			}
		}
	})
}
