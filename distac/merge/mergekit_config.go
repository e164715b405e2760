package merge

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A mergekit config, as mergekit reads it (its MergeConfiguration):
//
//	merge_method: ties
//	base_model: base
//	models:
//	  - model: a
//	    parameters: {weight: 0.5, density: 0.5}
//	  - model: b
//	    parameters: {weight: 0.5, density: 0.5}
//	parameters: {normalize: true, lambda: 1.0}
//	dtype: bfloat16
//
// It maps onto a Config: merge_method to a method (LookupMergekit), the
// models other than base_model to the tasks in order, each model's weight
// and density to the weights and density lists, the top-level lambda to
// alpha, normalize and rescale to those parameters, out_dtype (or dtype) to
// the output dtype. It names no output: distac's own keys for the output
// and the run (out, force, shard_size, mismatch, backend, threads, quiet) may stand beside
// mergekit's, which is how the C API's distac_merge, which has no --out,
// names one.

// isMergekitConfig tells a mergekit config from distac's by its keys.
func isMergekitConfig(root *yaml.Node) bool {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if k := root.Content[i].Value; k == "merge_method" || k == "models" {
			return true
		}
	}
	return false
}

// mergekitModel is one entry of models.
type mergekitModel struct {
	Model      string
	Parameters map[string]yaml.Node
}

// parseMergekit reads a mergekit config into c.
func (c *Config) parseMergekit(root *yaml.Node) error {
	c.Mergekit = true
	var methodName, base, dtype, outDType string
	var models []mergekitModel
	var params map[string]yaml.Node
	// mergekit's keys that distac reads, and where each is decoded to.
	fields := map[string]any{"merge_method": &methodName, "base_model": &base, "models": &models,
		"parameters": &params, "dtype": &dtype, "out_dtype": &outDType}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		var err error
		switch k.Value {
		case "merge_method", "base_model", "models", "parameters", "dtype", "out_dtype":
			err = v.Decode(fields[k.Value])
		case "chat_template", "tokenizer_source":
			if k.Value == "tokenizer_source" && v.Value != "base" {
				err = fmt.Errorf("%q: distac merges weights only and keeps the base's vocabulary (tokenizer_source: base)", v.Value)
				break
			}
			c.Notes = append(c.Notes, fmt.Sprintf("line %d: %s is not used (distac writes weights only)", k.Line, k.Value))
		case "out", "force", "shard_size", "mismatch", "backend", "threads", "quiet":
			err = c.set(k.Value, v)
		case "slices", "modules", "tokenizer":
			err = errors.New("mergekit's layer slices, modules and tokenizer configs are not supported: list whole models under models")
		default:
			err = errors.New("unknown key (a mergekit config takes merge_method, base_model, models, parameters, dtype, out_dtype, " +
				"and distac's out, force, shard_size, mismatch, backend, threads, quiet)")
		}
		if err != nil {
			return fmt.Errorf("line %d: %s: %w", k.Line, k.Value, err)
		}
	}
	if methodName == "" {
		return errors.New("a mergekit config needs merge_method")
	}
	m, err := LookupMergekit(methodName)
	if err != nil {
		return fmt.Errorf("merge_method: %w", err)
	}
	c.Method = m.Name
	if len(models) == 0 {
		return errors.New("a mergekit config needs models")
	}
	// Top-level parameters: lambda is alpha, int8_mask changes nothing here,
	// weight and density are defaults for the models, the rest are the
	// method's parameters by key.
	defaults := map[string]string{}
	for _, key := range slices.Sorted(maps.Keys(params)) {
		v := params[key]
		text, err := mergekitScalar(&v)
		if err != nil {
			return fmt.Errorf("parameters: %s: %w", key, err)
		}
		switch key {
		case "lambda":
			a, err := strconv.ParseFloat(text, 64)
			if err != nil {
				return fmt.Errorf("parameters: lambda: %q is not a number", text)
			}
			c.Alpha = &a
		case "int8_mask":
			c.Notes = append(c.Notes, "parameters: int8_mask is ignored (distac computes in float32)")
		case "weight", "density":
			defaults[key] = text
		default:
			if _, ok := m.Param(key); !ok {
				return fmt.Errorf("parameters: %s is not a parameter of %s%s", key, m.Name, m.paramHint())
			}
			c.Params[key] = text
		}
	}
	if c.Alpha == nil {
		one := 1.0 // mergekit's lambda default
		c.Alpha = &one
	}
	if err := c.mergekitModels(m, base, models, defaults); err != nil {
		return err
	}
	if outDType == "" {
		outDType = dtype
	}
	if outDType != "" {
		dt, ok := map[string]string{"float32": "f32", "float16": "f16", "bfloat16": "bf16", "fp32": "f32", "fp16": "f16", "bf16": "bf16"}[outDType]
		if !ok {
			return fmt.Errorf("dtype %q: want float32, float16 or bfloat16", outDType)
		}
		c.DType = dt
	}
	if dtype != "" && dtype != "float32" {
		c.Notes = append(c.Notes, fmt.Sprintf("dtype %s: distac computes in float32 and writes %s", dtype, c.DType))
	}
	return nil
}

// mergekitModels sets the base, the tasks and their weights and densities.
// A model that is base_model is the base (its weight is linear's
// base_weight); linear without base_model takes the first model as the
// base.
func (c *Config) mergekitModels(m *Method, base string, models []mergekitModel, defaults map[string]string) error {
	perModel := map[string][]string{}
	baseListed := false
	for i, e := range models {
		if e.Model == "" {
			return fmt.Errorf("models[%d]: no model", i)
		}
		vals := map[string]string{}
		for _, key := range slices.Sorted(maps.Keys(e.Parameters)) {
			v := e.Parameters[key]
			text, err := mergekitScalar(&v)
			if err != nil {
				return fmt.Errorf("models[%d] (%s): %s: %w", i, e.Model, key, err)
			}
			if key != "weight" && key != "density" {
				return fmt.Errorf("models[%d] (%s): parameter %s is not supported (distac takes weight and density per model)", i, e.Model, key)
			}
			vals[key] = text
		}
		for _, key := range []string{"weight", "density"} {
			if _, ok := vals[key]; !ok {
				if d, ok := defaults[key]; ok {
					vals[key] = d
				}
			}
		}
		isBase := base != "" && filepath.Clean(e.Model) == filepath.Clean(base)
		if base == "" && m.Name == linearMethod.Name && i == 0 {
			base, isBase = e.Model, true
		}
		if isBase {
			baseListed = true
			if m.Name == linearMethod.Name {
				w, ok := vals["weight"]
				if !ok {
					return fmt.Errorf("models[%d] (%s): linear needs a weight for every model", i, e.Model)
				}
				c.Params["base_weight"] = w
			}
			continue
		}
		c.Tasks = append(c.Tasks, e.Model)
		for _, key := range []string{"weight", "density"} {
			v, ok := vals[key]
			switch {
			case ok:
			case key == "weight" && m.Name == linearMethod.Name:
				return fmt.Errorf("models[%d] (%s): linear needs a weight for every model", i, e.Model)
			default:
				v = "1" // mergekit's weight is required, density 1 by default
			}
			perModel[key] = append(perModel[key], v)
		}
	}
	if base == "" {
		return fmt.Errorf("%s needs a base_model", m.Name)
	}
	if m.Name == linearMethod.Name && !baseListed {
		w, ok := defaults["weight"]
		if !ok {
			return fmt.Errorf("base_model %s is not among the models: list it with its weight (mergekit averages it in)", base)
		}
		c.Params["base_weight"] = w
	}
	c.Base = base
	if len(c.Tasks) == 0 {
		return errors.New("models lists no model besides the base")
	}
	for _, kl := range [][2]string{{"weight", "weights"}, {"density", "density"}} {
		key, list := kl[0], kl[1]
		vals := perModel[key]
		if _, ok := m.Param(list); ok {
			c.Params[list] = strings.Join(vals, ",")
			continue
		}
		for i, v := range vals {
			if x, err := strconv.ParseFloat(v, 64); err != nil || x != 1 {
				if key == "density" { // mergekit ignores it too where nothing is trimmed
					c.Notes = append(c.Notes, fmt.Sprintf("%s trims nothing: density of %s ignored", m.Name, c.Tasks[i]))
					continue
				}
				return fmt.Errorf("%s takes no per-model %s (task %s has %s)", m.Name, key, c.Tasks[i], v)
			}
		}
	}
	return nil
}

// mergekitScalar is a parameter's value as text. mergekit also takes
// per-layer gradients (lists) and filtered values, which distac does not.
func mergekitScalar(v *yaml.Node) (string, error) {
	if v.Kind != yaml.ScalarNode {
		return "", errors.New("only a single value is supported (not mergekit's per-layer gradients or filters)")
	}
	return v.Value, nil
}
