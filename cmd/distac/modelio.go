package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/distac/data"
	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/distac/train"
)

// The pieces the training commands share, over the library's model.Open,
// train.OpenSet and checkpoint.CheckOutputs: what the commands add is the
// flags and the warnings.

var (
	openEngine   = model.OpenEngine
	loadHeadFor  = model.LoadHeadFor
	checkOutputs = checkpoint.CheckOutputs
)

// loadModel opens path and reads its encoder. The config comes from
// configPath if given, else from the checkpoint's metadata; prefix (if not
// "-") overrides the key prefix recorded there. A model without
// preprocess_cfg gets a warning.
func loadModel(e model.Engine, path, configPath, prefix string) (*model.Loaded, error) {
	o := model.OpenOptions{ConfigPath: configPath}
	if prefix != "-" {
		o.Prefix = &prefix
	}
	m, err := model.Open(e, path, o)
	if err != nil {
		return nil, err
	}
	warnNoPreprocess(path, m)
	return m, nil
}

// warnNoPreprocess warns when m's config says nothing of preprocessing. No
// silent default: an accuracy read off unnormalised inputs of a model
// trained on normalised ones is wrong without a sign.
func warnNoPreprocess(path string, m *model.Loaded) {
	if m.NoPreprocess() {
		fmt.Fprintf(os.Stderr, "distac: warning: %s records no preprocess_cfg: images go in as loaded (pixels in [0, 1]); "+
			"if the model was trained on normalised images, give --model-config with its preprocess_cfg "+
			"(mean [0] and std [1] say none)\n", path)
	}
}

// loadSet reads a data set named on the command line (data.SpecHelp) for
// the model: see train.OpenSet. max > 0 keeps a seeded stratified sample.
func (m *modelFlags) loadSet(spec string, cfg *model.Config, max int, seed uint64) (*data.Set, error) {
	return train.OpenSet(spec, cfg, train.SetOptions{Max: max, Seed: seed, MaxPixels: m.maxPixels})
}

// nonEmpty drops the empty strings of paths (flags not given).
func nonEmpty(paths ...string) []string {
	var out []string
	for _, p := range paths {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// modelHeadRun is what finetune and predict open first: the model, its
// head and the images, with the output checked against every input before
// any work.
type modelHeadRun struct {
	e      model.Engine
	m      *model.Loaded
	head   *model.Head
	set    *data.Set
	inputs []string // files the output must never replace
}

// modelHeadFlags are the flags finetune and predict share: the model, the
// head, the images and the output.
type modelHeadFlags struct {
	model           *modelFlags
	head, data, out *string
	maxImages       *int
	force           *bool
}

func addModelHeadFlags(fs *flag.FlagSet, dataUsage, outUsage string) *modelHeadFlags {
	return &modelHeadFlags{
		model:     addModelFlags(fs),
		head:      fs.String("head", "", "frozen head (.safetensors with a \"head\" tensor)"),
		data:      fs.String("data", "", dataUsage),
		maxImages: intFlag(fs, "max-images", 0, 0, "a seeded stratified sample of this many images (0: all)"),
		out:       fs.String("out", "", outUsage),
		force:     fs.Bool("force", false, "replace an existing output"),
	}
}

// open checks that every flag is given, then opens the model, the head and
// the images (a sample drawn with seed).
func (f *modelHeadFlags) open(fs *flag.FlagSet, seed uint64) (*modelHeadRun, error) {
	if f.model.path == "" || *f.head == "" || *f.data == "" || *f.out == "" {
		fs.Usage()
		return nil, errors.New("--model, --head, --data and --out are required")
	}
	run, err := openModelHead(f.model, *f.head, *f.data, *f.out, *f.force)
	if err != nil {
		return nil, err
	}
	if run.set, err = f.model.loadSet(*f.data, run.m.Config, *f.maxImages, seed); err != nil {
		run.close()
		return nil, err
	}
	return run, nil
}

func (r *modelHeadRun) close() {
	r.head.Free(r.e)
	r.m.Close()
}

// openModelHead opens mf's model and the head at headPath, and refuses out
// if it exists (without force) or is one of the inputs (model, head, data,
// config).
func openModelHead(mf *modelFlags, headPath, dataSpec, out string, force bool) (*modelHeadRun, error) {
	e, m, err := mf.open()
	if err != nil {
		return nil, err
	}
	inputs := append(m.Paths(), nonEmpty(headPath, dataSpec, mf.config)...)
	if err := checkOutputs([]string{out}, force, inputs); err != nil {
		m.Close()
		return nil, err
	}
	h, err := loadHeadFor(e, headPath, m.Config)
	if err != nil {
		m.Close()
		return nil, err
	}
	return &modelHeadRun{e: e, m: m, head: h, inputs: inputs}, nil
}
