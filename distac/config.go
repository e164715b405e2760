package distac

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// MergeConfig is a merge described in a YAML or JSON file (JSON is YAML).
// Pointer fields distinguish "absent" from zero, so that a file sets only
// what it names. Relative paths are relative to the file's directory.
//
//	method: ties
//	base: base.safetensors
//	tasks: [mnist.safetensors, svhn.safetensors]
//	alpha: 0.9
//	k: 20
//	out: merged.safetensors
type MergeConfig struct {
	Method         string    `yaml:"method"`
	Base           string    `yaml:"base"`
	Tasks          []string  `yaml:"tasks"`
	Out            string    `yaml:"out"`
	Alpha          *float64  `yaml:"alpha"`
	K              *float64  `yaml:"k"`
	Lambda         []float64 `yaml:"-"` // "lambda": a number or a list, one per task
	MinAgree       *int      `yaml:"min_agree"`
	Drop           *float64  `yaml:"drop"`
	Seed           *uint64   `yaml:"seed"`
	CommonFraction *float64  `yaml:"common_fraction"`
	DType          string    `yaml:"dtype"`
	ShardSize      string    `yaml:"shard_size"` // "5GB", "500MiB", bytes
	Backend        string    `yaml:"backend"`
	Workers        *int      `yaml:"workers"`
	Force          *bool     `yaml:"force"`
	Quiet          *bool     `yaml:"quiet"`
	dir            string    // the file's directory
}

// LoadMergeConfig reads a YAML or JSON merge configuration. Unknown keys are
// errors, so a typo does not silently fall back to a default.
func LoadMergeConfig(path string) (*MergeConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw struct {
		MergeConfig `yaml:",inline"`
		Lambda      yaml.Node `yaml:"lambda"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c := raw.MergeConfig
	c.dir = filepath.Dir(path)
	switch raw.Lambda.Kind {
	case 0:
	case yaml.ScalarNode:
		var l float64
		if err := raw.Lambda.Decode(&l); err != nil {
			return nil, fmt.Errorf("%s: lambda: %w", path, err)
		}
		c.Lambda = []float64{l}
	default:
		if err := raw.Lambda.Decode(&c.Lambda); err != nil {
			return nil, fmt.Errorf("%s: lambda: %w", path, err)
		}
	}
	return &c, nil
}

// resolve makes a relative path relative to the config file.
func (c *MergeConfig) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

// Apply copies the fields the file sets into o.
func (c *MergeConfig) Apply(o *MergeOptions) error {
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
	setF := func(dst *float64, src *float64) {
		if src != nil {
			*dst = *src
		}
	}
	setF(&o.Alpha, c.Alpha)
	setF(&o.K, c.K)
	setF(&o.Drop, c.Drop)
	setF(&o.CommonFraction, c.CommonFraction)
	if len(c.Lambda) > 0 {
		o.Lambdas = c.Lambda
	}
	if c.MinAgree != nil {
		o.MinAgree = *c.MinAgree
	}
	if c.Seed != nil {
		o.Seed = *c.Seed
	}
	if c.DType != "" {
		o.OutDType = c.DType
	}
	if c.ShardSize != "" {
		n, err := ParseSize(c.ShardSize)
		if err != nil {
			return fmt.Errorf("shard_size: %w", err)
		}
		o.ShardSize = n
	}
	if c.Workers != nil {
		o.Workers = *c.Workers
	}
	if c.Force != nil {
		o.Force = *c.Force
	}
	return nil
}

// ParseSize parses a byte count: a number with an optional unit, decimal
// (KB, MB, GB, TB: powers of 1000, as Hugging Face's "5GB" shards) or binary
// (KiB, MiB, GiB, TiB). "0" means no limit.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   float64
	}{
		{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
		{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
		{"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"t", 1e12}, {"b", 1},
	}
	mult := 1.0
	lower := strings.ToLower(t)
	for _, u := range units {
		if strings.HasSuffix(lower, u.suffix) {
			mult = u.mult
			t = strings.TrimSpace(t[:len(t)-len(u.suffix)])
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || v*mult > math.MaxInt64/2 {
		return 0, fmt.Errorf("size %q: want a byte count such as 5GB, 500MiB or 1048576", s)
	}
	return int64(v * mult), nil
}
