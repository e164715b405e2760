package model

import (
	"fmt"

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
	Checkpoint *checkpoint.Checkpoint
}

// Open reads the encoder at path (a .safetensors file, a sharded index or a
// directory) onto e. A model whose config has no preprocess_cfg takes
// images as loaded (pixels in [0, 1]): callers should say so to users,
// since a model trained on normalised images is then evaluated wrongly
// without a sign (see Loaded.NoPreprocess).
func Open(e Engine, path string, o OpenOptions) (*Loaded, error) {
	ck, err := checkpoint.Open(path)
	if err != nil {
		return nil, err
	}
	cfg, pre, err := ConfigOf(ck)
	if o.ConfigPath != "" {
		cfg, err = ReadConfig(o.ConfigPath)
	}
	if err != nil {
		ck.Close()
		return nil, err
	}
	if o.Prefix != nil {
		pre = *o.Prefix
	}
	p, err := LoadParams(e, ck, LayoutOf(cfg), pre)
	if err != nil {
		ck.Close()
		return nil, err
	}
	return &Loaded{Config: cfg, Encoder: New(cfg), Params: p, Prefix: pre, Checkpoint: ck}, nil
}

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
