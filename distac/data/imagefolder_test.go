package data

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func grayImage(w, h int, v uint8) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for i := range g.Pix {
		g.Pix[i] = v
	}
	return g
}

func rgbaImage(w, h int, c color.NRGBA) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetNRGBA(x, y, c)
		}
	}
	return m
}

func pngBytes(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegBytes(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestImageFolderClasses: class directories in sorted order become labels;
// colours survive decoding, conversion and resizing; non-square images are
// resized on the shorter side and centre-cropped.
func TestImageFolderClasses(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"red", "blue", ".hidden"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	red := color.NRGBA{200, 10, 20, 255}
	blue := color.NRGBA{0, 40, 250, 255}
	writeFile(t, filepath.Join(dir, "red", "a.png"), pngBytes(t, rgbaImage(40, 20, red)))
	writeFile(t, filepath.Join(dir, "red", "b.JPG"), jpegBytes(t, rgbaImage(16, 16, red)))
	writeFile(t, filepath.Join(dir, "red", "notes.txt"), []byte("not an image"))
	writeFile(t, filepath.Join(dir, "blue", "c.jpeg"), jpegBytes(t, rgbaImage(9, 30, blue)))
	writeFile(t, filepath.Join(dir, ".hidden", "x.png"), pngBytes(t, rgbaImage(8, 8, red)))
	writeFile(t, filepath.Join(dir, "top.png"), pngBytes(t, rgbaImage(8, 8, red))) // beside the classes: ignored

	s, err := ReadImageFolder(dir, Preprocess{Size: 8, Channels: 3})
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 3 || s.Classes != 2 || s.ClassNames[0] != "blue" || s.ClassNames[1] != "red" {
		t.Fatalf("N=%d classes %d %q, want 3 images of [blue red]", s.Len(), s.Classes, s.ClassNames)
	}
	if s.Labels[0] != 0 || s.Labels[1] != 1 || s.Labels[2] != 1 {
		t.Fatalf("labels %v, want [0 1 1] (blue/c, red/a, red/b)", s.Labels)
	}
	wantRGB := [][3]uint8{{0, 40, 250}, {200, 10, 20}, {200, 10, 20}}
	for i, rgb := range wantRGB {
		img := s.Image(i)
		tol := 0.0
		if i != 1 { // JPEG (even at quality 100, chroma is subsampled)
			tol = 6.0 / 255
		}
		for c := 0; c < 3; c++ {
			for _, v := range img[c*64 : (c+1)*64] {
				if math.Abs(float64(v)-float64(rgb[c])/255) > tol+1e-6 {
					t.Fatalf("image %d channel %d value %v, want %v", i, c, v, float64(rgb[c])/255)
				}
			}
		}
	}

	// Gray (luma) and normalisation: (x - 0.5) / 0.25 per the one-value form.
	g, err := ReadImageFolder(dir, Preprocess{Size: 4, Channels: 1, Mean: []float32{0.5}, Std: []float32{0.25}})
	if err != nil {
		t.Fatal(err)
	}
	luma := (0.299*200 + 0.587*10 + 0.114*20) / 255
	if v := g.Image(1)[5]; math.Abs(float64(v)-(luma-0.5)/0.25) > 1e-5 {
		t.Fatalf("gray normalised red = %v, want %v", v, (luma-0.5)/0.25)
	}
}

// TestImageFolderGeometry: shorter side to Size, centre crop, bilinear
// values; unlabelled flat folders.
func TestImageFolderGeometry(t *testing.T) {
	dir := t.TempDir()
	// 12 x 4: left third black, middle white, right third black. Resized to
	// 6 x 2 (shorter side 2), the centre crop 2 x 2 is columns 2..3 of 6, i.e.
	// input columns 4..7: the white middle.
	m := image.NewGray(image.Rect(0, 0, 12, 4))
	for y := 0; y < 4; y++ {
		for x := 4; x < 8; x++ {
			m.SetGray(x, y, color.Gray{255})
		}
	}
	writeFile(t, filepath.Join(dir, "wide.png"), pngBytes(t, m))
	// Tall 4 x 12: top and bottom thirds white, middle black: the crop is black.
	tall := image.NewGray(image.Rect(0, 0, 4, 12))
	for y := 0; y < 12; y++ {
		for x := 0; x < 4; x++ {
			if y < 4 || y >= 8 {
				tall.SetGray(x, y, color.Gray{255})
			}
		}
	}
	writeFile(t, filepath.Join(dir, "xtall.png"), pngBytes(t, tall))
	s, err := ReadImageFolder(dir, Preprocess{Size: 2, Channels: 1})
	if err != nil {
		t.Fatal(err)
	}
	if s.Labels != nil || s.Classes != 0 || s.Len() != 2 {
		t.Fatalf("flat folder: labels %v classes %d N %d", s.Labels, s.Classes, s.Len())
	}
	// Shrinking by 2 the triangle filter spans 4 input pixels (weights
	// 1/8, 3/8, 3/8, 1/8), so output column 2 (input 4..7 centred at 5)
	// reaches 3..6 and output 3 reaches 5..8: each gets 7/8 white.
	for i, v := range s.Image(0) {
		if math.Abs(float64(v)-7.0/8) > 1e-6 {
			t.Fatalf("wide crop value %d = %v, want 7/8", i, v)
		}
	}
	for i, v := range s.Image(1) {
		if math.Abs(float64(v)-1.0/8) > 1e-6 {
			t.Fatalf("tall crop value %d = %v, want 1/8", i, v)
		}
	}
	// Enlarging: a 2x2 checker to 4x4 is bilinear interpolation.
	up := t.TempDir()
	ch := image.NewGray(image.Rect(0, 0, 2, 2))
	ch.Pix = []uint8{0, 255, 255, 0}
	writeFile(t, filepath.Join(up, "c.png"), pngBytes(t, ch))
	u, err := ReadImageFolder(up, Preprocess{Size: 4, Channels: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := refBilinear([]float32{0, 1, 1, 0}, 2, 4)
	for i, v := range u.Image(0) {
		if math.Abs(float64(v-want[i])) > 1e-6 {
			t.Fatalf("upsampled value %d = %v, want %v", i, v, want[i])
		}
	}
}

// TestImageFolderErrors: each bad folder or file is named.
func TestImageFolderErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := ReadImageFolder(dir, Preprocess{Size: 8, Channels: 1})
	wantErr(t, err, dir, "no class subdirectories")
	_, err = ReadImageFolder(dir, Preprocess{Size: 8, Channels: 2})
	wantErr(t, err, "channels 2")
	_, err = ReadImageFolder(dir, Preprocess{Size: 0, Channels: 1})
	wantErr(t, err, "size 0")

	bad := filepath.Join(dir, "broken.png")
	writeFile(t, bad, []byte("\x89PNG\r\n\x1a\n truncated"))
	_, err = ReadImageFolder(dir, Preprocess{Size: 8, Channels: 1})
	wantErr(t, err, bad)
	if err := os.Remove(bad); err != nil {
		t.Fatal(err)
	}

	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = ReadImageFolder(dir, Preprocess{Size: 8, Channels: 1})
	wantErr(t, err, filepath.Join(dir, "empty"), "no .png")

	writeFile(t, filepath.Join(dir, "empty", "a.png"), pngBytes(t, grayImage(3, 3, 9)))
	_, err = ReadImageFolder(dir, Preprocess{Size: 8, Channels: 3, Mean: []float32{0, 0}, Std: []float32{1, 1}})
	wantErr(t, err, dir, "mean has 2 values")
	_, err = ReadImageFolder(dir, Preprocess{Size: 8, Channels: 1, Mean: []float32{0}})
	wantErr(t, err, "both mean and std")
}

// TestTriangleWeights: every output's taps are non-negative and sum to 1,
// for shrinking and enlarging alike.
func TestTriangleWeights(t *testing.T) {
	for _, c := range [][2]int{{8, 28}, {28, 8}, {1000, 28}, {7, 7}, {3, 1}, {1, 5}} {
		aw := triangleWeights(c[0], c[1])
		for i, ws := range aw.w {
			sum := 0.0
			for _, w := range ws {
				if w < 0 {
					t.Fatalf("%v: output %d has a negative tap", c, i)
				}
				sum += float64(w)
			}
			if math.Abs(sum-1) > 1e-6 || aw.start[i] < 0 || aw.start[i]+len(ws) > c[0] {
				t.Fatalf("%v: output %d taps sum to %v over [%d, %d)", c, i, sum, aw.start[i], aw.start[i]+len(ws))
			}
		}
	}
}

// refBilinear enlarges an n x n plane to m x m by textbook bilinear
// interpolation: output x samples input u = (x+0.5)*n/m - 0.5, clamped.
func refBilinear(src []float32, n, m int) []float32 {
	coord := func(x int) (int, int, float64) {
		u := (float64(x)+0.5)*float64(n)/float64(m) - 0.5
		u = math.Max(0, math.Min(u, float64(n-1)))
		x0 := int(math.Floor(u))
		return x0, min(x0+1, n-1), u - float64(x0)
	}
	out := make([]float32, m*m)
	for y := 0; y < m; y++ {
		y0, y1, fy := coord(y)
		for x := 0; x < m; x++ {
			x0, x1, fx := coord(x)
			top := float64(src[y0*n+x0])*(1-fx) + float64(src[y0*n+x1])*fx
			bot := float64(src[y1*n+x0])*(1-fx) + float64(src[y1*n+x1])*fx
			out[y*m+x] = float32(top*(1-fy) + bot*fy)
		}
	}
	return out
}
