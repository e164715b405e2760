// Package yamlconf decodes the settings files of distac's jobs (YAML, so
// JSON too) the way the merge config reads: a mapping of known keys, each
// value decoded into its field; an unknown key, a key given twice or a
// value of the wrong type is an error naming the line and, for an unknown
// key, the keys there are. A typo never falls back to a default.
package yamlconf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Field is one key of a config and where its value goes (a pointer, as
// yaml.Node.Decode takes; a pointer to a pointer tells "absent" from zero).
type Field struct {
	Key string
	To  any
}

// Decode decodes the mapping in data into fields, for a config of what
// ("a condition config"), and returns the keys it set. An empty document
// sets nothing.
func Decode(data []byte, what string, fields []Field) (map[string]bool, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) { // an empty document
			return map[string]bool{}, nil
		}
		return nil, err
	}
	set := map[string]bool{}
	if doc.Kind == 0 {
		return set, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: %s is a mapping of keys to values", root.Line, what)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if set[k.Value] {
			return nil, fmt.Errorf("line %d: key %q given twice", k.Line, k.Value)
		}
		f := lookup(fields, k.Value)
		if f == nil {
			keys := make([]string, len(fields))
			for j, f := range fields {
				keys[j] = f.Key
			}
			return nil, fmt.Errorf("line %d: %s: unknown key (%s takes %s)", k.Line, k.Value, what, strings.Join(keys, ", "))
		}
		if err := v.Decode(f.To); err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", k.Line, k.Value, err)
		}
		set[k.Value] = true
	}
	return set, nil
}

func lookup(fields []Field, key string) *Field {
	for i := range fields {
		if fields[i].Key == key {
			return &fields[i]
		}
	}
	return nil
}

// Load reads the config file at path and parses it with parse, relative
// paths in it taken from the file's directory; a parse error names the file.
func Load[T any](path string, parse func(data []byte, dir string) (T, error)) (T, error) {
	var zero T
	data, err := os.ReadFile(path)
	if err != nil {
		return zero, err
	}
	c, err := parse(data, filepath.Dir(path))
	if err != nil {
		return zero, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
