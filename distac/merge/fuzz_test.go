package merge

import (
	"math"
	"strings"
	"testing"
)

// FuzzParseConfig: the config parser never panics, and whatever it accepts
// applies to Options without panicking; every parameter it keeps is one of
// the methods' keys.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("method: ties\nbase: b.safetensors\ntasks: [a, b]\nalpha: 0.9\nk: 20\nout: o.safetensors\n"))
	f.Add([]byte(`{"method": "consensus", "lambda": [0.2, 0.5], "min_agree": 3, "shard_size": "1GB"}`))
	f.Add([]byte("lambda: [[1]]\n"))
	f.Add([]byte("k: 1\nk: 2\n"))
	f.Add([]byte("- a\n- b\n"))
	f.Add([]byte("alpha: .inf\nworkers: -1\nforce: yes\n"))
	f.Add([]byte("*a\n&b: c\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b, "dir")
		if err != nil {
			if c != nil {
				t.Fatal("a config returned with an error")
			}
			return
		}
		o := Options{}
		_ = c.Apply(&o) // a bad shard_size is an error, never a panic
		keys := map[string]bool{}
		for _, p := range AllParams() {
			keys[p.Key] = true
		}
		for k := range c.Params {
			if !keys[k] {
				t.Fatalf("kept unknown parameter %q", k)
			}
		}
		if m, err := Lookup(o.Method); err == nil && !strings.Contains(o.Method, "\x00") {
			_, _ = m.Resolve(o.Params, len(o.Tasks)+1) // never panics either
		}
	})
}

// FuzzParseDiagnoseConfig: the diagnose config parser never panics, and
// what it accepts holds to the flags' rules.
func FuzzParseDiagnoseConfig(f *testing.F) {
	f.Add([]byte("base: b.safetensors\ntasks: [a, b]\nwarn_ratio: 3\nper_tensor: true\nthreads: 2\n"))
	f.Add([]byte(`{"warn_ratio": -1, "tasks": "a"}`))
	f.Add([]byte("warn_ratio: .inf\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseDiagnoseConfig(b, "dir")
		if err != nil {
			return
		}
		if r := c.WarnRatio; r < 0 || math.IsNaN(r) || math.IsInf(r, 0) || c.Threads < 0 {
			t.Fatalf("accepted %+v", c)
		}
	})
}
