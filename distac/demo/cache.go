package demo

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/distac/distac/distac/checkpoint"
)

// key is a short hash of everything an artifact depends on.
func key(parts ...any) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, p := range parts {
		if err := enc.Encode(p); err != nil {
			panic(fmt.Sprintf("demo: cache key: %v", err)) // only plain data goes in
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// artifact is a cached file in the work directory: name-key.ext.
type artifact struct {
	Path string
	Key  string
}

func (p *pipeline) artifact(name, ext string, parts ...any) artifact {
	k := key(parts...)
	return artifact{Path: filepath.Join(p.o.Workdir, name+"-"+k+ext), Key: k}
}

func (a artifact) exists() bool {
	st, err := os.Stat(a.Path)
	return err == nil && st.Mode().IsRegular()
}

// readJSON loads a cached JSON artifact into v; false if there is none.
func (a artifact) readJSON(v any) bool {
	b, err := os.ReadFile(a.Path)
	return err == nil && json.Unmarshal(b, v) == nil
}

// writeJSON stores v atomically.
func (a artifact) writeJSON(v any) error { return writeFileAtomic(a.Path, v) }

func writeFileAtomic(path string, v any) error {
	var b []byte
	switch x := v.(type) {
	case []byte:
		b = x
	default:
		var err error
		if b, err = json.MarshalIndent(v, "", "  "); err != nil {
			return err
		}
	}
	// The cache's own files: replaced whenever they are rewritten.
	return checkpoint.WriteFileAtomic(path, b, true, nil)
}
