package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/distac/train"
)

func init() {
	register("init", "write a randomly initialised encoder (ViT or MLP) from an open_clip-style config", runInit)
	register("head", "build a frozen zero-shot-style head from class prototypes of labelled images", runHead)
}

const initUsage = `usage: distac init --model-config model.json --out base.safetensors [--seed S] [--prefix P] [--format hf]

Writes freshly initialised encoder weights (open_clip names) with the config
in the checkpoint's metadata, so later commands need no config file.
--format hf writes a ViT in Hugging Face transformers' names
(CLIPVisionModelWithProjection; CLIPVisionModel for a config without
projection); with --out DIR (no .safetensors suffix)
it is a model folder with the config.json (and preprocessor_config.json)
converted from the open_clip config, which transformers loads.

flags:
`

func runInit(args []string) error {
	fs := newFlagSet("init", initUsage)
	cfgPath := fs.String("model-config", "", "model config JSON (open_clip form: embed_dim, vision_cfg or mlp_cfg)")
	deprecatedAlias(fs, "config", "model-config")
	out := fs.String("out", "", "output .safetensors file")
	seed := fs.Uint64("seed", 0, "initialisation seed")
	prefix := fs.String("prefix", "", "key prefix of the tensors (e.g. model.visual.)")
	format := fs.String("format", model.NamingOpenCLIP, "tensor names: open_clip or hf (transformers' CLIP vision model)")
	force := fs.Bool("force", false, "replace an existing output")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if *cfgPath == "" || *out == "" {
		fs.Usage()
		return errors.New("--model-config and --out are required")
	}
	if *format != model.NamingOpenCLIP && *format != model.NamingHF {
		return fmt.Errorf("--format %q: want %s or %s", *format, model.NamingOpenCLIP, model.NamingHF)
	}
	if err := checkOutputs([]string{*out}, *force, []string{*cfgPath}); err != nil {
		return err
	}
	cfg, err := model.ReadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *format == model.NamingHF && cfg.Vision == nil {
		return fmt.Errorf("--format hf: %s is not a ViT (transformers' CLIP names are for vision_cfg models)", *cfgPath)
	}
	e, err := openEngine("auto", 0)
	if err != nil {
		return err
	}
	p, err := model.Init(e, model.LayoutOf(cfg), *seed)
	if err != nil {
		return err
	}
	if err := model.SaveParams(e, cfg, p, *out, model.SaveOptions{Prefix: *prefix, Naming: *format, Force: *force, Inputs: []string{*cfgPath}}); err != nil {
		return err
	}
	fmt.Printf("wrote %s: %d parameters\n", *out, countParams(p.Layout))
	return nil
}

func countParams(l *model.Layout) int {
	n := 0
	for _, s := range l.Specs {
		n += s.N
	}
	return n
}

const headUsage = `usage: distac head --model base.safetensors --data SET --out head.safetensors [flags]
       distac head --embeddings classes.npy [--logit-scale 100] [--model M] --out head.safetensors

Builds a frozen head for a model without a text tower: row c is
scale * normalize(mean of the normalised features of class-c images),
the role CLIP's class-name embeddings play. SET is a built-in set
(mnist, fashion, opencv-digits, sklearn-digits, optionally :train/:test),
a folder of images, a .safetensors of tensors or an IDX file.

With --embeddings, the head is CLIP's zero-shot head from class embeddings
computed elsewhere (scripts/clip_text_head.py writes them from a text
tower): row c = logit-scale * e_c / ||e_c||. The file is a .npy or
.safetensors float matrix (classes, dim); --model, if given, checks that
dim is the model's embed_dim.

flags:
`

func runHead(args []string) error {
	fs := newFlagSet("head", headUsage)
	mf := addModelFlags(fs)
	dataSpec := fs.String("data", "", "labelled images")
	perClass := intFlag(fs, "max-images", 1000, 0, "a seeded stratified sample of this many images (0: all)")
	deprecatedAlias(fs, "examples", "max-images")
	addQuietFlag(fs) // no progress to silence: a head takes seconds
	scale := floatFlag(fs, "scale", 20, positive, "logit scale: the rows' norm")
	seed := fs.Uint64("seed", 0, "sample seed")
	embeddings := fs.String("embeddings", "", "class embeddings (.npy or .safetensors, classes x dim) in place of --data")
	logitScale := floatFlag(fs, "logit-scale", 100, positive, "with --embeddings: the rows' norm, CLIP's exp(logit_scale)")
	out := fs.String("out", "", "output head .safetensors")
	force := fs.Bool("force", false, "replace an existing output")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if *embeddings != "" {
		if *dataSpec != "" || *out == "" {
			fs.Usage()
			return errors.New("--embeddings takes --out and no --data")
		}
		return embeddingHead(mf, *embeddings, *logitScale, *out, *force)
	}
	if mf.path == "" || *dataSpec == "" || *out == "" {
		fs.Usage()
		return errors.New("--model, --data and --out are required")
	}
	e, m, err := mf.open()
	if err != nil {
		return err
	}
	defer m.Close()
	inputs := append(m.Paths(), nonEmpty(*dataSpec, mf.config)...)
	if err := checkOutputs([]string{*out}, *force, inputs); err != nil {
		return err
	}
	s, err := mf.loadSet(*dataSpec, m.Config, *perClass, *seed)
	if err != nil {
		return err
	}
	classes := s.Classes
	if classes == 0 {
		return fmt.Errorf("%s: no labels", *dataSpec)
	}
	w, err := train.PrototypeHead(e, m.Encoder, m.Params, s, classes, *scale, 256)
	if err != nil {
		return err
	}
	if err := model.SaveHead(*out, w, classes, m.Config.EmbedDim, s.ClassNames, *force, inputs); err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "wrote %s: %d classes x %d features from %d images of %s\n", *out, classes, m.Config.EmbedDim, s.Len(), *dataSpec)
	return nil
}

// embeddingHead writes the zero-shot head of class embeddings; with a
// model named, their width must be its embed_dim.
func embeddingHead(mf *modelFlags, path string, scale float64, out string, force bool) error {
	inputs := nonEmpty(path, mf.path, mf.config)
	if err := checkOutputs([]string{out}, force, inputs); err != nil {
		return err
	}
	em, err := model.ReadEmbeddings(path)
	if err != nil {
		return err
	}
	if mf.path != "" {
		e, m, err := mf.open()
		if err != nil {
			return err
		}
		m.Params.Free(e)
		m.Close()
		if em.Dim != m.Config.EmbedDim {
			return fmt.Errorf("embeddings %s have %d features, the model's embed_dim is %d", path, em.Dim, m.Config.EmbedDim)
		}
		inputs = append(inputs, m.Paths()...)
	}
	w, err := em.HeadWeights(scale)
	if err != nil {
		return fmt.Errorf("embeddings %s: %w", path, err)
	}
	if err := model.SaveHead(out, w, em.Classes, em.Dim, em.Names, force, inputs); err != nil {
		return err
	}
	fmt.Printf("wrote %s: %d classes x %d features from the embeddings %s (logit scale %g)\n", out, em.Classes, em.Dim, path, scale)
	return nil
}

// modelFlags are the flags that name a model to load.
type modelFlags struct {
	path, config, prefix, backend string
	threads, maxPixels            int
}

func addModelFlags(fs *flag.FlagSet) *modelFlags {
	m := &modelFlags{}
	fs.StringVar(&m.path, "model", "", "model checkpoint (.safetensors, index or directory)")
	addEngineFlags(fs, m)
	return m
}

func addEngineFlags(fs *flag.FlagSet, m *modelFlags) {
	fs.StringVar(&m.config, "model-config", "", "model config JSON (default: the one in the checkpoint's metadata)")
	fs.StringVar(&m.prefix, "prefix", "-", "key prefix of the encoder's tensors (default: the one recorded in the checkpoint, else found from the tensor names when unambiguous)")
	fs.StringVar(&m.backend, "backend", "auto", backendUsage)
	fs.Var(&intValue{&m.threads, 0}, "threads", "CPU threads: the kernels' (0: one per CPU)")
	fs.Var(&intValue{&m.maxPixels, 0}, "max-pixels", "largest width x height an image of a folder may state (0: 8192 x 8192)")
}

func (m *modelFlags) open() (model.Engine, *model.Loaded, error) {
	e, err := openEngine(m.backend, m.threads)
	if err != nil {
		return nil, nil, err
	}
	lm, err := loadModel(e, m.path, m.config, m.prefix)
	return e, lm, err
}
