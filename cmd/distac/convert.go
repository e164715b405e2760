package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/distac/distac/distac/model"
	"github.com/nlpodyssey/safetensors"
)

func init() {
	register("convert", "rewrite a ViT checkpoint in transformers' (hf) or open_clip's tensor names", runConvert)
}

const convertUsage = `usage: distac convert --to hf|open_clip --model IN --out OUT [--out-prefix P] [--dtype D] [--force]

Rewrites the vision encoder of IN (a distac, open_clip or transformers
checkpoint: a file, an index or a model folder) in the other naming, the
same values: --to hf gives a transformers CLIPVisionModelWithProjection
(CLIPVisionModel for a model without projection); with --out DIR (no
.safetensors suffix) a model folder with config.json and
preprocessor_config.json that transformers loads. --to open_clip gives
open_clip's names under --out-prefix (e.g. visual.), with the config in
the metadata. q, k and v are split from (or stacked into) in_proj_weight
and proj is transposed into visual_projection.weight: no arithmetic, so
converting back gives the same bits. Each tensor keeps its dtype unless
--dtype says otherwise. Tensors that are not the encoder's (a CLIP text
tower) are left out, and counted on stderr.

flags:
`

func runConvert(args []string) error {
	fs := newFlagSet("convert", convertUsage)
	in := fs.String("model", "", "model checkpoint (.safetensors, index or directory)")
	cfgPath := fs.String("model-config", "", "model config JSON (default: the one in the checkpoint's metadata, or its folder's config.json)")
	prefix := fs.String("prefix", "-", "key prefix of the input's tensors (default: the one recorded in the checkpoint, else found from the tensor names when unambiguous)")
	to := fs.String("to", "", "the output's names: hf (transformers' CLIP vision model) or open_clip")
	outPrefix := fs.String("out-prefix", "", "with --to open_clip: key prefix of the output's tensors (e.g. visual.)")
	out := fs.String("out", "", "output .safetensors file, or a folder (DIR)")
	dtype := dtypeFlag(fs, "output dtype f32, f16 or bf16 (default: the input's)")
	force := fs.Bool("force", false, "replace an existing output")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if *in == "" || *out == "" || *to == "" {
		fs.Usage()
		return errors.New("--model, --to and --out are required")
	}
	if *to != model.NamingHF && *to != model.NamingOpenCLIP {
		return fmt.Errorf("--to %q: want %s or %s", *to, model.NamingHF, model.NamingOpenCLIP)
	}
	if *to == model.NamingHF && *outPrefix != "" {
		return errors.New("--out-prefix is for --to open_clip: transformers' names have no prefix")
	}
	e, err := openEngine("auto", 0)
	if err != nil {
		return err
	}
	// No preprocess warning (loadModel's): converting evaluates nothing.
	oo := model.OpenOptions{ConfigPath: *cfgPath}
	if *prefix != "-" {
		oo.Prefix = prefix
	}
	m, err := model.Open(e, *in, oo)
	if err != nil {
		return err
	}
	defer m.Close()
	defer m.Params.Free(e)
	if *to == model.NamingHF && m.Config.Vision == nil {
		return fmt.Errorf("--to hf: %s is not a ViT (transformers' CLIP names are for vision_cfg models)", *in)
	}
	if err := checkOutputs([]string{*out}, *force, append(m.Paths(), nonEmpty(*cfgPath)...)); err != nil {
		return err
	}
	dt := *dtype
	if dt == "" {
		if dt, err = encoderDType(m); err != nil {
			return err
		}
	}
	own, err := encoderTensors(m)
	if err != nil {
		return err
	}
	if left := len(m.Checkpoint.Tensors) - len(own); left > 0 {
		fmt.Fprintf(os.Stderr, "distac convert: left out %d tensors of %s that are not the encoder's (a text tower), e.g. %s\n",
			left, *in, firstOther(m, own))
	}
	o := model.SaveOptions{Prefix: *outPrefix, Naming: *to, DType: dt, Force: *force, Inputs: m.Paths()}
	if err := model.SaveParams(e, m.Config, m.Params, *out, o); err != nil {
		return err
	}
	fmt.Printf("wrote %s: %d parameters in %s names (from %s, %s)\n", *out, countParams(m.Params.Layout), namingWords(*to), *in, m.Naming)
	return nil
}

// encoderTensors are the names of m's encoder tensors in its checkpoint.
func encoderTensors(m *model.Loaded) (map[string]bool, error) {
	own := map[string]bool{}
	for _, s := range m.Params.Layout.Specs {
		parts, err := m.Naming.Parts(s)
		if err != nil {
			return nil, err
		}
		for _, p := range parts {
			own[p.Name] = true
		}
	}
	return own, nil
}

func firstOther(m *model.Loaded, own map[string]bool) string {
	for _, t := range m.Checkpoint.Tensors {
		if !own[t.Name] {
			return t.Name
		}
	}
	return ""
}

// encoderDType is the dtype every encoder tensor of m has, as --dtype
// spells it; f32 when they differ (it holds each of them exactly).
func encoderDType(m *model.Loaded) (string, error) {
	own, err := encoderTensors(m)
	if err != nil {
		return "", err
	}
	var dt safetensors.DType
	first := true
	for name := range own {
		t, _ := m.Checkpoint.Tensor(name)
		if first {
			dt, first = t.DType, false
		} else if t.DType != dt {
			return "f32", nil
		}
	}
	switch dt {
	case safetensors.F16:
		return "f16", nil
	case safetensors.BF16:
		return "bf16", nil
	}
	return "f32", nil
}

func namingWords(kind string) string {
	if kind == model.NamingHF {
		return "transformers'"
	}
	return "open_clip's"
}
