package train

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/distac/data"
	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/internal/yamlconf"
)

// A condition job described in YAML or JSON: the settings of `distac
// condition`'s flags by the same names, "-" written "_" and the repeated
// flags plural (tasks, heads, outs; data and eval stay as they are). What
// `distac condition --config` reads and the C API's distac_condition
// takes:
//
//	base: base.safetensors
//	tasks: [ft/mnist.safetensors, ft/fashion.safetensors]
//	heads: [mnist.head.safetensors, fashion.head.safetensors]
//	data: [mnist, fashion]
//	out_dir: conditioned
//	steps: 100
//
// heads, data and eval take one value for all tasks or a list of one per
// task, as the flags do.

// stringList is a list of strings, or one string (a list of one).
type stringList []string

func (l *stringList) UnmarshalYAML(v *yaml.Node) error {
	if v.Kind == yaml.ScalarNode {
		var s string
		if err := v.Decode(&s); err != nil {
			return err
		}
		*l = stringList{s}
		return nil
	}
	var ss []string
	if err := v.Decode(&ss); err != nil {
		return err
	}
	*l = ss
	return nil
}

// conditionConfig is a condition config as read: pointers tell "absent"
// from zero, so that the defaults stay where a file says nothing.
type conditionConfig struct {
	base, outDir, modelConfig, backend, dtype, prec     string
	prefix                                              *string
	tasks, heads, data, eval, outs                      stringList
	threads, maxImages, maxPixels, steps, batch, warmup *int
	parallel                                            *int
	force, stretch, confidence                          bool
	kappa, target, tTcr, tStu, beta, lr, clip           *float64
	seed                                                *uint64
}

// ConditionConfigKeys are the keys a condition config takes, in the order
// an error lists them.
var ConditionConfigKeys = []string{"base", "tasks", "heads", "data", "eval", "outs", "out_dir", "model_config", "prefix",
	"backend", "threads", "max_images", "max_pixels", "dtype", "force", "kappa", "target_norm", "stretch", "confidence",
	"t_tcr", "t_stu", "beta", "lr", "steps", "batch", "warmup", "clip", "parallel_tasks", "seed", "precision"}

func (c *conditionConfig) fields() []yamlconf.Field {
	to := []any{&c.base, &c.tasks, &c.heads, &c.data, &c.eval, &c.outs, &c.outDir, &c.modelConfig, &c.prefix,
		&c.backend, &c.threads, &c.maxImages, &c.maxPixels, &c.dtype, &c.force, &c.kappa, &c.target, &c.stretch, &c.confidence,
		&c.tTcr, &c.tStu, &c.beta, &c.lr, &c.steps, &c.batch, &c.warmup, &c.clip, &c.parallel, &c.seed, &c.prec}
	f := make([]yamlconf.Field, len(ConditionConfigKeys))
	for i, k := range ConditionConfigKeys {
		f[i] = yamlconf.Field{Key: k, To: to[i]}
	}
	return f
}

// LoadConditionConfig reads a condition job from a YAML or JSON file;
// relative paths in it are relative to the file's directory.
func LoadConditionConfig(path string) (*ConditionJob, error) {
	return yamlconf.Load(path, ParseConditionConfig)
}

// ParseConditionConfig reads a condition job from YAML or JSON text. Keys
// it does not set take the
// flags' defaults (DefaultConditionOptions; outputs keep each task's dtype).
// Values follow the flags' rules (counts >= 0, steps and batch >= 1,
// temperatures and lr > 0, every number finite); an unknown key is an
// error. Relative paths are relative to dir ("": the working directory);
// a data or eval spec that names a built-in set (mnist, fashion:test) is
// not a path and stays as it is. confidence sets the temperatures to
// (1, 10), over t_tcr and t_stu.
func ParseConditionConfig(text []byte, dir string) (*ConditionJob, error) {
	var c conditionConfig
	if _, err := yamlconf.Decode(text, "a condition config", c.fields()); err != nil {
		return nil, err
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	path := func(p string) string {
		if p == "" || dir == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	paths := func(ps []string, isPath func(string) bool) []string {
		var out []string
		for _, p := range ps {
			if isPath(p) {
				p = path(p)
			}
			out = append(out, p)
		}
		return out
	}
	always := func(string) bool { return true }
	notBuiltin := func(spec string) bool {
		name, _, _ := strings.Cut(spec, ":")
		return !slices.Contains(data.Names(), name)
	}
	j := &ConditionJob{Base: path(c.base), Tasks: paths(c.tasks, always), Heads: paths(c.heads, always),
		Data: paths(c.data, notBuiltin), Eval: paths(c.eval, notBuiltin), Outs: paths(c.outs, always), OutDir: path(c.outDir),
		ModelConfig: path(c.modelConfig), Prefix: c.prefix, Backend: c.backend, DType: c.dtype, Force: c.force,
		Options: DefaultConditionOptions()}
	setInt := func(dst *int, p *int) {
		if p != nil {
			*dst = *p
		}
	}
	setInt(&j.Threads, c.threads)
	setInt(&j.MaxImages, c.maxImages)
	setInt(&j.MaxPixels, c.maxPixels)
	o := &j.Options
	setInt(&o.Steps, c.steps)
	setInt(&o.Batch, c.batch)
	setInt(&o.Warmup, c.warmup)
	setInt(&o.Parallel, c.parallel)
	setFloat := func(dst *float64, p *float64) {
		if p != nil {
			*dst = *p
		}
	}
	setFloat(&o.Kappa, c.kappa)
	setFloat(&o.TargetNorm, c.target)
	setFloat(&o.LR, c.lr)
	setFloat(&o.Clip, c.clip)
	if c.tTcr != nil {
		o.TTcr = float32(*c.tTcr)
	}
	if c.tStu != nil {
		o.TStu = float32(*c.tStu)
	}
	if c.beta != nil {
		o.Anchor = float32(*c.beta)
	}
	if c.confidence {
		o.TTcr, o.TStu = 1, 10
	}
	o.Stretch = c.stretch
	if c.seed != nil {
		o.Seed = *c.seed
	}
	if c.prec != "" {
		o.Precision, _ = model.ParsePrecision(c.prec) // checked
	}
	return j, nil
}

// check applies the flags' rules to the values the config set.
func (c *conditionConfig) check() error {
	for _, v := range []struct {
		key      string
		x        *float64
		pos, f32 bool // > 0, else >= 0; held as a float32
	}{{"kappa", c.kappa, false, false}, {"target_norm", c.target, false, false}, {"t_tcr", c.tTcr, true, true},
		{"t_stu", c.tStu, true, true}, {"beta", c.beta, false, true}, {"lr", c.lr, true, true}, {"clip", c.clip, false, false}} {
		if v.x == nil {
			continue
		}
		x := *v.x
		if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 || (v.pos && x == 0) {
			want := "a finite number >= 0"
			if v.pos {
				want = "a finite number > 0"
			}
			return fmt.Errorf("%s: %v, want %s", v.key, x, want)
		}
		if v.f32 && x > math.MaxFloat32 {
			return fmt.Errorf("%s: %v, want at most %.3g (a float32)", v.key, x, math.MaxFloat32)
		}
		// A value this small rounds to a float32 zero, which "> 0" forbids.
		if v.f32 && v.pos && float32(x) == 0 {
			return fmt.Errorf("%s: %v, want at least %.3g (a float32)", v.key, x, math.SmallestNonzeroFloat32)
		}
	}
	for _, v := range []struct {
		key string
		n   *int
		min int
	}{{"threads", c.threads, 0}, {"max_images", c.maxImages, 0}, {"max_pixels", c.maxPixels, 0}, {"steps", c.steps, 1},
		{"batch", c.batch, 1}, {"warmup", c.warmup, 0}, {"parallel_tasks", c.parallel, 0}} {
		if v.n != nil && *v.n < v.min {
			return fmt.Errorf("%s: %d, want an integer >= %d", v.key, *v.n, v.min)
		}
	}
	if _, _, err := checkpoint.ParseOutDType(c.dtype); err != nil {
		return fmt.Errorf("dtype: %w", err)
	}
	if _, err := model.ParsePrecision(c.prec); err != nil {
		return err
	}
	return nil
}
