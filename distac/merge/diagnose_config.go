package merge

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/distac/distac/internal/yamlconf"
)

// DiagnoseConfig is a diagnosis described in YAML or JSON, with the keys of
// `distac diagnose`'s flags (what the C API's distac_diagnose takes):
//
//	base: base.safetensors
//	tasks: [a.safetensors, b.safetensors]
//	warn_ratio: 2
//	per_tensor: false
//	backend: auto
//	threads: 0
//	mismatch: error
type DiagnoseConfig struct {
	Base      string
	Tasks     []string
	WarnRatio float64 // norm_mismatch above this max/min ratio (default 2, the flag's)
	PerTensor bool
	Backend   string
	Threads   int
	Mismatch  string // DiagnoseOptions.Mismatch: error (default), base or common
}

// ParseDiagnoseConfig reads a diagnosis from YAML or JSON text; relative
// paths are relative to dir ("": the working directory). An unknown key is
// an error, and values follow the flags' rules (warn_ratio finite and >= 0,
// threads >= 0).
func ParseDiagnoseConfig(data []byte, dir string) (*DiagnoseConfig, error) {
	c := &DiagnoseConfig{WarnRatio: 2}
	fields := []yamlconf.Field{{Key: "base", To: &c.Base}, {Key: "tasks", To: &c.Tasks}, {Key: "warn_ratio", To: &c.WarnRatio},
		{Key: "per_tensor", To: &c.PerTensor}, {Key: "backend", To: &c.Backend}, {Key: "threads", To: &c.Threads}, {Key: "mismatch", To: &c.Mismatch}}
	if _, err := yamlconf.Decode(data, "a diagnose config", fields); err != nil {
		return nil, err
	}
	if r := c.WarnRatio; math.IsNaN(r) || math.IsInf(r, 0) || r < 0 {
		return nil, fmt.Errorf("warn_ratio: %v, want a finite number >= 0", r)
	}
	if c.Threads < 0 {
		return nil, fmt.Errorf("threads: %d, want an integer >= 0", c.Threads)
	}
	c.Mismatch = strings.ToLower(c.Mismatch)
	if c.Mismatch != "" && !slices.Contains(MismatchPolicies, c.Mismatch) {
		return nil, fmt.Errorf("mismatch: %q, want one of %v", c.Mismatch, MismatchPolicies)
	}
	resolve := func(p string) string {
		if p == "" || dir == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	c.Base = resolve(c.Base)
	for i, t := range c.Tasks {
		c.Tasks[i] = resolve(t)
	}
	return c, nil
}
