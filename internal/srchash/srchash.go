// Package srchash hashes the C kernel sources. Package ffi compiles them
// through one-line wrappers (ffi/c_*.c include ../kernels/avx/*.c), and Go's
// build cache does not see files reached through #include outside the
// package: an edited kernel would not be rebuilt. ffi therefore carries this
// hash in a generated Go file; a changed kernel changes that file, which
// rebuilds the package, and a test fails while the file is stale.
package srchash

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Kernels returns the hex SHA-256 of every .c and .h file under root/kernels
// (path and content, in sorted path order).
func Kernels(root string) (string, error) {
	var files []string
	err := filepath.WalkDir(filepath.Join(root, "kernels"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".c") || strings.HasSuffix(p, ".h")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash kernel sources: %w", err)
	}
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("hash kernel sources: %w", err)
		}
		rel, _ := filepath.Rel(root, f)
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.ToSlash(rel), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
