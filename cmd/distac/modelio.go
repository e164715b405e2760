package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/distac/data"
	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/ffi"
)

// The pieces the training commands share: an engine, a model read from a
// checkpoint (with its config from the metadata or a file), and data sets
// named on the command line.

// openEngine opens a backend with the training ops.
func openEngine(name string, threads int) (model.Engine, error) {
	be, err := ffi.Open(name, threads)
	if err != nil {
		return nil, err
	}
	return model.AsEngine(be)
}

// loadedModel is an encoder and one set of its parameters.
type loadedModel struct {
	cfg    *model.Config
	enc    model.Encoder
	params *model.Params
	prefix string
	ck     *checkpoint.Checkpoint // still open: SaveParams may carry its other tensors
}

func (m *loadedModel) close() {
	if m != nil && m.ck != nil {
		m.ck.Close()
	}
}

// loadModel opens path and reads its encoder. The config comes from
// configPath if given, else from the checkpoint's metadata; prefix (if not
// "-") overrides the key prefix recorded there.
func loadModel(e model.Engine, path, configPath, prefix string) (*loadedModel, error) {
	ck, err := checkpoint.Open(path)
	if err != nil {
		return nil, err
	}
	cfg, pre, err := model.ConfigOf(ck)
	if configPath != "" {
		cfg, err = model.ReadConfig(configPath)
	}
	if err != nil {
		ck.Close()
		return nil, err
	}
	if prefix != "-" {
		pre = prefix
	}
	if cfg.Preprocess == nil {
		// No silent default: an accuracy read off unnormalised inputs of a
		// model trained on normalised ones is wrong without a sign.
		fmt.Fprintf(os.Stderr, "distac: warning: %s records no preprocess_cfg: images go in as loaded (pixels in [0, 1]); "+
			"if the model was trained on normalised images, give --model-config with its preprocess_cfg "+
			"(mean [0] and std [1] say none)\n", path)
	}
	p, err := model.LoadParams(e, ck, model.LayoutOf(cfg), pre)
	if err != nil {
		ck.Close()
		return nil, err
	}
	return &loadedModel{cfg: cfg, enc: model.New(cfg), params: p, prefix: pre, ck: ck}, nil
}

// loadSet reads a data set named on the command line:
//
//	mnist, fashion, opencv-digits, sklearn-digits   built-in, train part
//	NAME:train, NAME:test                           a part of a built-in set
//	DIR                                             a folder of images (DIR/<class>/*.png|jpg)
//	FILE.safetensors                                pre-processed tensors (images, labels)
//	FILE-images-idx3-ubyte[.gz]                     IDX images (labels beside: -labels-idx1-ubyte)
//
// and normalises it with the model's preprocess_cfg. max > 0 keeps a
// seeded stratified sample of that many images.
func loadSet(spec string, cfg *model.Config, max int, seed uint64) (*data.Set, error) {
	s, err := readSet(spec, cfg)
	if err != nil {
		return nil, err
	}
	if s.Len() == 0 {
		return nil, fmt.Errorf("%s holds no images", spec)
	}
	ch, h, w := cfg.Input()
	if s.C != ch || s.H != h || s.W != w {
		return nil, fmt.Errorf("%s: images are %dx%dx%d, the model takes %dx%dx%d", spec, s.C, s.H, s.W, ch, h, w)
	}
	if max > 0 && s.Len() > max {
		s = s.Take(max, seed)
	}
	if pp := cfg.Preprocess; pp != nil && len(pp.Mean) > 0 {
		if err := s.Normalize(pp.Mean, pp.Std); err != nil {
			return nil, fmt.Errorf("%s: %w", spec, err)
		}
	}
	return s, nil
}

func readSet(spec string, cfg *model.Config) (*data.Set, error) {
	name, part, _ := strings.Cut(spec, ":")
	for _, b := range data.Names() {
		if name != b {
			continue
		}
		train, test, err := data.Load(name, data.LoadOptions{})
		if err != nil {
			return nil, err
		}
		switch part {
		case "", "train":
			return train, nil
		case "test":
			return test, nil
		}
		return nil, fmt.Errorf("%s: unknown part %q (want train or test)", spec, part)
	}
	st, err := os.Stat(spec)
	if err != nil {
		return nil, fmt.Errorf("data %q is neither a built-in set (%s) nor a file: %w", spec, strings.Join(data.Names(), ", "), err)
	}
	switch {
	case st.IsDir():
		ch, h, _ := cfg.Input()
		return data.ReadImageFolder(spec, data.Preprocess{Size: h, Channels: ch})
	case strings.HasSuffix(spec, ".safetensors"):
		return data.ReadTensors(spec)
	case strings.Contains(filepath.Base(spec), "images-idx3"):
		labels := strings.Replace(spec, "images-idx3", "labels-idx1", 1)
		if _, err := os.Stat(labels); err != nil {
			labels = ""
		}
		return data.ReadIDX(spec, labels)
	}
	return nil, fmt.Errorf("data %s: not a directory, .safetensors or *-images-idx3-ubyte file", spec)
}

// paths are the files the model was read from (what the user named and
// every shard), for SaveOptions.Inputs and checkOutputs.
func (m *loadedModel) paths() []string {
	ps := []string{m.ck.Path}
	for _, f := range m.ck.Files {
		ps = append(ps, f.Path)
	}
	return ps
}

// loadHeadFor reads a head and checks that it takes the model's features.
func loadHeadFor(e model.Engine, path string, cfg *model.Config) (*model.Head, error) {
	h, err := model.LoadHead(e, path)
	if err != nil {
		return nil, err
	}
	if h.Dim != cfg.EmbedDim {
		h.Free(e)
		return nil, fmt.Errorf("head %s has %d features, the model's embed_dim is %d", path, h.Dim, cfg.EmbedDim)
	}
	return h, nil
}

// checkOutputs runs, before any long work, the checks the writers make at
// the end: each output's directory exists, it is none of inputs (never
// replaced, even with --force), it exists only with --force, and no two
// outputs are one file.
func checkOutputs(outs []string, force bool, inputs []string) error {
	seen := map[string]string{}
	for _, o := range outs {
		abs, err := filepath.Abs(o)
		if err != nil {
			return fmt.Errorf("output %s: %w", o, err)
		}
		if prev, dup := seen[abs]; dup && prev == o {
			return fmt.Errorf("output %s is given twice", o)
		} else if dup {
			return fmt.Errorf("outputs %s and %s are one file", prev, o)
		}
		seen[abs] = o
		if err := checkpoint.CheckOutput(o, force, inputs); err != nil {
			return err
		}
	}
	return nil
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
	m      *loadedModel
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
	if run.set, err = loadSet(*f.data, run.m.cfg, *f.maxImages, seed); err != nil {
		run.close()
		return nil, err
	}
	return run, nil
}

func (r *modelHeadRun) close() {
	r.head.Free(r.e)
	r.m.close()
}

// openModelHead opens mf's model and the head at headPath, and refuses out
// if it exists (without force) or is one of the inputs (model, head, data,
// config).
func openModelHead(mf *modelFlags, headPath, dataSpec, out string, force bool) (*modelHeadRun, error) {
	e, m, err := mf.open()
	if err != nil {
		return nil, err
	}
	inputs := append(m.paths(), nonEmpty(headPath, dataSpec, mf.config)...)
	if err := checkOutputs([]string{out}, force, inputs); err != nil {
		m.close()
		return nil, err
	}
	h, err := loadHeadFor(e, headPath, m.cfg)
	if err != nil {
		m.close()
		return nil, err
	}
	return &modelHeadRun{e: e, m: m, head: h, inputs: inputs}, nil
}
