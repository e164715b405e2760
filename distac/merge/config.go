package merge

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/ffi"
	"github.com/distac/distac/internal/yamlconf"
)

// Config is a merge described in YAML or JSON (JSON is YAML). Pointer fields
// tell "absent" from zero, so that a file sets only what it names. Relative
// paths are relative to the file's directory (to Dir for ParseConfig).
//
//	method: ties
//	base: base.safetensors
//	tasks: [mnist.safetensors, svhn.safetensors]
//	alpha: 0.9
//	k: 20
//	out: merged.safetensors
//
// Besides the keys below, a config takes the parameters of the methods by
// their keys (AllParams: k, lambda, min_agree, ...), a FloatList as one
// number or a list.
type Config struct {
	Method    string
	Base      string
	Tasks     []string
	Out       string
	Alpha     *float64
	Params    map[string]string // method parameters by key, as text (Param.Parse)
	DType     string
	ShardSize string // "5GB", "500MiB", bytes
	Backend   string
	Threads   *int
	Force     *bool
	Quiet     *bool
	Mismatch  string   // Options.Mismatch: error, base or common
	Dir       string   // what relative paths are relative to ("": the working directory)
	Notes     []string // what the reader should hear about (a deprecated key), one line each
	// Mergekit is set for a config in mergekit's schema (merge_method,
	// models: see mergekit_config.go), which names no output.
	Mergekit bool
}

// deprecatedKeys are old spellings of keys, read as the new ones with a note
// for one release.
var deprecatedKeys = map[string]string{"workers": "threads"}

// LoadConfig reads a YAML or JSON merge configuration. Unknown keys are
// errors, so a typo does not silently fall back to a default.
func LoadConfig(path string) (*Config, error) {
	return yamlconf.Load(path, ParseConfig)
}

// ParseConfig reads a configuration from YAML or JSON text; relative paths
// in it are relative to dir ("": the working directory).
func ParseConfig(data []byte, dir string) (*Config, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	c := &Config{Params: map[string]string{}, Dir: dir}
	if doc.Kind == 0 { // empty
		return c, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: a merge config is a mapping of keys to values", root.Line)
	}
	if isMergekitConfig(root) {
		if err := c.parseMergekit(root); err != nil {
			return nil, fmt.Errorf("mergekit config: %w", err)
		}
		return c, nil
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		key := k.Value
		if nk, ok := deprecatedKeys[key]; ok {
			c.Notes = append(c.Notes, fmt.Sprintf("line %d: %s is deprecated; use %s", k.Line, key, nk))
			key = nk
		}
		if seen[key] {
			return nil, fmt.Errorf("line %d: key %q given twice", k.Line, key)
		}
		seen[key] = true
		if err := c.set(key, v); err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", k.Line, key, err)
		}
	}
	return c, nil
}

// configKeys are the keys of a config besides the methods' parameters.
var configKeys = []string{"method", "base", "tasks", "out", "alpha", "dtype", "shard_size", "backend", "threads", "force", "quiet", "mismatch"}

// set decodes one key's value.
func (c *Config) set(key string, v *yaml.Node) error {
	fields := []any{&c.Method, &c.Base, &c.Tasks, &c.Out, &c.Alpha, &c.DType, &c.ShardSize, &c.Backend, &c.Threads, &c.Force, &c.Quiet, &c.Mismatch}
	if i := slices.Index(configKeys, key); i >= 0 {
		return v.Decode(fields[i])
	}
	i := slices.IndexFunc(AllParams(), func(p SharedParam) bool { return p.Key == key })
	if i < 0 {
		var params []string
		for _, p := range AllParams() {
			params = append(params, p.Key)
		}
		return fmt.Errorf("unknown key (a config takes %s, and the methods' parameters %s)",
			strings.Join(configKeys, ", "), strings.Join(params, ", "))
	}
	text, err := paramText(v, AllParams()[i].Kind == FloatList)
	if err != nil {
		return err
	}
	c.Params[key] = text
	return nil
}

// paramText is a parameter's value as Param.Parse reads it: a scalar as it
// is, a list (where the kind takes one) joined with commas.
func paramText(v *yaml.Node, list bool) (string, error) {
	switch {
	case v.Kind == yaml.ScalarNode:
		return v.Value, nil
	case v.Kind == yaml.SequenceNode && list:
		var parts []string
		for _, e := range v.Content {
			if e.Kind != yaml.ScalarNode {
				return "", errors.New("want a list of numbers")
			}
			parts = append(parts, e.Value)
		}
		return strings.Join(parts, ","), nil
	}
	return "", errors.New("want a number")
}

// resolve makes a relative path relative to the config's directory.
func (c *Config) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.Dir == "" {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// Apply copies the fields the config sets into o. Parameters are copied
// whatever the method; Run refuses those the method does not have.
func (c *Config) Apply(o *Options) error {
	if c.Method != "" {
		o.Method = strings.ToLower(c.Method)
	}
	if c.Base != "" {
		o.Base = c.resolve(c.Base)
	}
	if len(c.Tasks) > 0 {
		o.Tasks = nil
		for _, t := range c.Tasks {
			o.Tasks = append(o.Tasks, c.resolve(t))
		}
	}
	if c.Out != "" {
		o.Out = c.resolve(c.Out)
	}
	if c.Alpha != nil {
		o.Alpha = *c.Alpha
	}
	for k, v := range c.Params {
		if o.Params == nil {
			o.Params = map[string]string{}
		}
		o.Params[k] = v
	}
	if c.DType != "" {
		o.OutDType = c.DType
	}
	if c.ShardSize != "" {
		n, err := checkpoint.ParseSize(c.ShardSize)
		if err != nil {
			return fmt.Errorf("shard_size: %w", err)
		}
		o.ShardSize = n
	}
	if c.Threads != nil {
		o.Threads = *c.Threads
	}
	if c.Force != nil {
		o.Force = *c.Force
	}
	if c.Mismatch != "" {
		o.Mismatch = strings.ToLower(c.Mismatch)
	}
	return nil
}

// DefaultOptions are a merge's settings before a config or flags: task
// arithmetic at alpha 1.
func DefaultOptions() Options { return Options{Method: MethodTA, Alpha: 1} }

// DropForeignParams removes from o the parameters the config set that o's
// method does not have (one file may serve several methods), except those
// in keep (set another way, as a command line's flags, where they are
// errors), and returns a note for each, in key order. With an unknown
// method it drops nothing (Run names the method).
func (c *Config) DropForeignParams(o *Options, keep map[string]bool) []string {
	m, err := Lookup(o.Method)
	if err != nil {
		return nil
	}
	var notes []string
	for _, k := range slices.Sorted(maps.Keys(c.Params)) {
		if _, ok := m.Param(k); !ok && !keep[k] {
			notes = append(notes, fmt.Sprintf("%s is not a parameter of %s; ignored", k, m.Name))
			delete(o.Params, k)
		}
	}
	return notes
}

// OptionsFromConfig is the merge c describes, as `distac merge --config`
// runs it with no other flag: DefaultOptions with c applied, the parameters
// of other methods dropped, on the backend c names (OpenBackend). The notes
// are c.Notes, then one per parameter dropped.
func OptionsFromConfig(c *Config) (Options, []string, error) {
	o := DefaultOptions()
	if err := c.Apply(&o); err != nil {
		return o, nil, err
	}
	notes := append(slices.Clone(c.Notes), c.DropForeignParams(&o, nil)...)
	be, err := OpenBackend(c.Backend)
	if err != nil {
		return o, notes, err
	}
	o.Backend = be
	return o, notes, nil
}

// OpenBackend opens the backend a merge runs on, by ffi.Open's name (""
// and "auto": the best there is), each op on one thread: the merge itself
// runs Threads chunks at once.
func OpenBackend(name string) (ffi.Backend, error) { return ffi.Open(name, 1) }
