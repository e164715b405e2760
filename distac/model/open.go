package model

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/ffi"
)

// OpenEngine opens the backend name (see ffi.Open) with threads kernel
// threads, with the training ops an encoder needs.
func OpenEngine(name string, threads int) (Engine, error) {
	be, err := ffi.Open(name, threads)
	if err != nil {
		return nil, err
	}
	return AsEngine(be)
}

// OpenOptions say how Open finds a checkpoint's model.
type OpenOptions struct {
	// ConfigPath, if set, is a config JSON read in place of the one in the
	// checkpoint's metadata.
	ConfigPath string
	// Prefix, if set, overrides the key prefix the checkpoint records
	// (a pointer: "" is a prefix too, no prefix).
	Prefix *string
}

// Loaded is an encoder read from a checkpoint: its config, the encoder, its
// parameters on an engine, and the checkpoint, kept open so SaveParams can
// carry its other tensors (SaveOptions.Like). Close releases the
// checkpoint; the parameters are freed by the caller (Params.Free).
type Loaded struct {
	Config     *Config
	Encoder    Encoder
	Params     *Params
	Prefix     string // of the encoder's tensors in the checkpoint
	Naming     Naming // how the checkpoint names them (Prefix included)
	Checkpoint *checkpoint.Checkpoint
}

// Open reads the encoder at path (a .safetensors file, a sharded index or a
// directory) onto e. The config is o.ConfigPath's, else the one in the
// checkpoint's metadata, else a transformers config.json in the model's
// folder (with its preprocessor_config.json). The naming (open_clip's or
// transformers') and the key prefix are found from the tensor names unless
// o.Prefix or the metadata gives the prefix. A model whose config has no
// preprocess_cfg takes images as loaded (pixels in [0, 1]): callers should
// say so to users, since a model trained on normalised images is then
// evaluated wrongly without a sign (see Loaded.NoPreprocess).
func Open(e Engine, path string, o OpenOptions) (*Loaded, error) {
	ck, err := checkpoint.Open(path)
	if err != nil {
		return nil, err
	}
	cfg, pre, recorded, err := configOf(ck)
	if o.ConfigPath != "" {
		cfg, err = ReadConfig(o.ConfigPath)
	}
	if err != nil {
		ck.Close()
		return nil, err
	}
	var prefix *string
	switch {
	case o.Prefix != nil:
		prefix = o.Prefix
	case recorded:
		prefix = &pre
	}
	names := make([]string, len(ck.Tensors))
	for i, t := range ck.Tensors {
		names[i] = t.Name
	}
	if !inMetadata(ck) || o.ConfigPath != "" {
		noProjection(cfg, names)
	}
	layout := LayoutOf(cfg)
	naming, err := namingFor(func(n string) bool { _, ok := ck.Tensor(n); return ok }, names, layout, prefix)
	if err != nil {
		ck.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	p, err := LoadNamed(e, ck, layout, naming)
	if err != nil {
		ck.Close()
		return nil, err
	}
	return &Loaded{Config: cfg, Encoder: New(cfg), Params: p, Prefix: naming.Prefix, Naming: naming, Checkpoint: ck}, nil
}

// configOf is ConfigOf, else the config.json of a transformers folder
// (FolderOf); recorded says whether the metadata records the key prefix.
func configOf(ck *checkpoint.Checkpoint) (cfg *Config, prefix string, recorded bool, err error) {
	for _, f := range ck.Files {
		if _, ok := f.Metadata[ConfigKey]; ok {
			_, recorded = f.Metadata[PrefixKey]
			cfg, prefix, err = ConfigOf(ck)
			return cfg, prefix, recorded, err
		}
	}
	if dir := FolderOf(ck); dir != "" {
		hf := filepath.Join(dir, HFConfigName)
		if _, err := os.Stat(hf); err == nil {
			cfg, err := ReadHFConfig(hf)
			return cfg, "", false, err
		}
	}
	_, _, err = ConfigOf(ck)
	return nil, "", false, err
}

// inMetadata reports whether ck records its config (distac wrote it).
func inMetadata(ck *checkpoint.Checkpoint) bool {
	for _, f := range ck.Files {
		if _, ok := f.Metadata[ConfigKey]; ok {
			return true
		}
	}
	return false
}

// noProjection makes cfg a CLIPVisionModel's (no projection, features the
// width) when the tensors are transformers' and visual_projection.weight
// is not among them: what a CLIPVisionModel folder holds, whatever its
// config.json's architectures say.
func noProjection(cfg *Config, names []string) {
	v := cfg.Vision
	if v == nil || v.NoProj {
		return
	}
	hf, proj := false, false
	for _, n := range names {
		hf = hf || strings.HasSuffix(n, "vision_model.embeddings.patch_embedding.weight")
		proj = proj || strings.HasSuffix(n, "visual_projection.weight")
	}
	if hf && !proj {
		v.NoProj, cfg.EmbedDim = true, v.Width
	}
}

// FolderOf is checkpoint.FolderOf: the model folder ck was read from.
func FolderOf(ck *checkpoint.Checkpoint) string { return checkpoint.FolderOf(ck) }

// NoPreprocess reports whether the config says nothing of preprocessing.
func (m *Loaded) NoPreprocess() bool { return m.Config.Preprocess == nil }

// Paths are the files the model was read from: what was named and every
// shard (for SaveOptions.Inputs and checkpoint.CheckOutputs).
func (m *Loaded) Paths() []string {
	ps := []string{m.Checkpoint.Path}
	for _, f := range m.Checkpoint.Files {
		ps = append(ps, f.Path)
	}
	return ps
}

// Close releases the checkpoint (not the parameters).
func (m *Loaded) Close() {
	if m != nil && m.Checkpoint != nil {
		m.Checkpoint.Close()
	}
}

// LoadHeadFor reads a head (LoadHead) and checks it takes cfg's features.
func LoadHeadFor(be ffi.Backend, path string, cfg *Config) (*Head, error) {
	h, err := LoadHead(be, path)
	if err != nil {
		return nil, err
	}
	if h.Dim != cfg.EmbedDim {
		h.Free(be)
		return nil, fmt.Errorf("head %s has %d features, the model's embed_dim is %d", path, h.Dim, cfg.EmbedDim)
	}
	return h, nil
}
