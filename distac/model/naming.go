package model

import (
	"fmt"
	"strings"
)

// Naming kinds: how a checkpoint names an encoder's tensors.
const (
	// NamingOpenCLIP is open_clip's VisionTransformer (and distac's own):
	// conv1.weight, transformer.resblocks.{i}.attn.in_proj_weight, proj, ...
	NamingOpenCLIP = "open_clip"
	// NamingHF is Hugging Face transformers' CLIPVisionModelWithProjection:
	// vision_model.embeddings.patch_embedding.weight,
	// vision_model.encoder.layers.{i}.self_attn.q_proj.weight, ...,
	// visual_projection.weight.
	NamingHF = "hf"
)

// Naming maps the encoder's parameters (distac's layout, which uses
// open_clip's names and shapes) to the tensors of a file, so a model read
// in one naming is written back in the same one.
type Naming struct {
	Kind   string // NamingOpenCLIP ("" too) or NamingHF
	Prefix string // before every name (model.visual., visual., ...)
}

// IsHF reports whether n is transformers' naming.
func (n Naming) IsHF() bool { return n.Kind == NamingHF }

// String is the naming as messages print it.
func (n Naming) String() string {
	k := n.Kind
	if k == "" {
		k = NamingOpenCLIP
	}
	if n.Prefix == "" {
		return k
	}
	return fmt.Sprintf("%s under prefix %q", k, n.Prefix)
}

// Part is one file tensor holding all or part of a parameter: either the
// parameter's elements [Off, Off+numel(Shape)) as they lie (transformers'
// q_proj, k_proj and v_proj are the three row blocks of open_clip's
// in_proj_weight), or, with Transpose, the transpose of a 2-D parameter
// (visual_projection.weight is proj^T: nn.Linear stores [out, in]).
type Part struct {
	Name      string
	Shape     []int
	Off       int
	Transpose bool
}

// N is the number of elements of the part.
func (p Part) N() int {
	n := 1
	for _, d := range p.Shape {
		n *= d
	}
	return n
}

// Parts lists the file tensors of parameter s.
func (n Naming) Parts(s ParamSpec) ([]Part, error) {
	if !n.IsHF() {
		return []Part{{Name: n.Prefix + s.Name, Shape: s.Shape}}, nil
	}
	parts, err := hfParts(s)
	if err != nil {
		return nil, err
	}
	for i := range parts {
		parts[i].Name = n.Prefix + parts[i].Name
	}
	return parts, nil
}

// hfLayerNames maps the open_clip names inside a residual block to
// transformers' CLIPEncoderLayer names (weight and bias alike).
var hfLayerNames = map[string]string{
	"ln_1.":          "layer_norm1.",
	"ln_2.":          "layer_norm2.",
	"attn.out_proj.": "self_attn.out_proj.",
	"mlp.c_fc.":      "mlp.fc1.",
	"mlp.c_proj.":    "mlp.fc2.",
}

// hfParts is Parts for transformers' CLIP vision names (no prefix).
func hfParts(s ParamSpec) ([]Part, error) {
	const vm = "vision_model."
	same := func(name string) []Part { return []Part{{Name: name, Shape: s.Shape}} }
	switch s.Name {
	case "conv1.weight":
		return same(vm + "embeddings.patch_embedding.weight"), nil
	case "class_embedding":
		return same(vm + "embeddings.class_embedding"), nil
	case "positional_embedding":
		return same(vm + "embeddings.position_embedding.weight"), nil
	case "proj":
		if len(s.Shape) != 2 {
			return nil, fmt.Errorf("proj has shape %v, want 2-D", s.Shape)
		}
		return []Part{{Name: "visual_projection.weight", Shape: []int{s.Shape[1], s.Shape[0]}, Transpose: true}}, nil
	}
	for _, ln := range []struct{ oc, hf string }{{"ln_pre.", "pre_layrnorm."}, {"ln_post.", "post_layernorm."}} {
		if rest, ok := strings.CutPrefix(s.Name, ln.oc); ok {
			return same(vm + ln.hf + rest), nil
		}
	}
	var i int
	var rest string
	if k, err := fmt.Sscanf(s.Name, "transformer.resblocks.%d.", &i); err != nil || k != 1 {
		return nil, fmt.Errorf("parameter %s has no transformers name (the HF naming is for ViTs)", s.Name)
	}
	rest = strings.TrimPrefix(s.Name, block(i))
	layer := fmt.Sprintf("%sencoder.layers.%d.", vm, i)
	// in_proj stacks q, k and v by rows: [3w, w] weights, [3w] biases.
	if suffix, ok := map[string]string{"attn.in_proj_weight": "weight", "attn.in_proj_bias": "bias"}[rest]; ok {
		if len(s.Shape) == 0 || s.Shape[0]%3 != 0 {
			return nil, fmt.Errorf("parameter %s has shape %v, want 3w leading rows", s.Name, s.Shape)
		}
		shape := append([]int{s.Shape[0] / 3}, s.Shape[1:]...)
		step := s.N / 3
		var parts []Part
		for k, qkv := range []string{"q", "k", "v"} {
			parts = append(parts, Part{Name: layer + "self_attn." + qkv + "_proj." + suffix, Shape: shape, Off: k * step})
		}
		return parts, nil
	}
	for oc, hf := range hfLayerNames {
		if r, ok := strings.CutPrefix(rest, oc); ok {
			return same(layer + hf + r), nil
		}
	}
	return nil, fmt.Errorf("parameter %s has no transformers name", s.Name)
}

// namingFor finds how ck names layout's parameters: with prefix given
// (not nil), either naming under it; otherwise every prefix under which
// the first parameter's tensor appears, in either naming, and it must be
// one: a full open_clip CLIP state dict (visual.* beside the text tower)
// is found as visual., a transformers CLIPModel as vision_model.*.
func namingFor(names func(string) bool, all []string, layout *Layout, prefix *string) (Naming, error) {
	if len(layout.Specs) == 0 {
		return Naming{}, fmt.Errorf("the model config has no parameters")
	}
	complete := func(n Naming) bool {
		for _, s := range layout.Specs {
			parts, err := n.Parts(s)
			if err != nil {
				return false
			}
			for _, p := range parts {
				if !names(p.Name) {
					return false
				}
			}
		}
		return true
	}
	var cands []Naming
	for _, kind := range []string{NamingOpenCLIP, NamingHF} {
		anchor, err := Naming{Kind: kind}.Parts(layout.Specs[0])
		if err != nil {
			continue
		}
		if prefix != nil {
			cands = append(cands, Naming{Kind: kind, Prefix: *prefix})
			continue
		}
		for _, name := range all {
			pre, ok := strings.CutSuffix(name, anchor[0].Name)
			if ok && (pre == "" || strings.HasSuffix(pre, ".")) {
				cands = append(cands, Naming{Kind: kind, Prefix: pre})
			}
		}
	}
	var found []Naming
	for _, c := range cands {
		if complete(c) {
			found = append(found, c)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		var ps []string
		for _, f := range found {
			ps = append(ps, fmt.Sprintf("%q", f.Prefix))
		}
		return Naming{}, fmt.Errorf("the model's tensors appear under several key prefixes (%s): give --prefix", strings.Join(ps, ", "))
	case len(cands) > 0:
		return cands[0], nil // LoadParams names the first missing tensor
	}
	return Naming{}, nil
}
