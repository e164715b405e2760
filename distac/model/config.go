package model

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
)

// Config describes an encoder in open_clip's JSON form: embed_dim and
// quick_gelu at the top, and either vision_cfg (a ViT) or mlp_cfg (an MLP,
// distac's small test model). Unknown keys are ignored, so an open_clip
// model config (with its text_cfg) loads as it is.
type Config struct {
	EmbedDim  int           `json:"embed_dim"`
	QuickGELU bool          `json:"quick_gelu,omitempty"`
	Vision    *VisionConfig `json:"vision_cfg,omitempty"`
	MLP       *MLPConfig    `json:"mlp_cfg,omitempty"`
	// Preprocess holds the per-channel mean and std images are normalised
	// with before the encoder (open_clip's preprocess_cfg); none: as loaded.
	Preprocess *PreprocessConfig `json:"preprocess_cfg,omitempty"`
}

// PreprocessConfig is open_clip's preprocess_cfg (the fields distac uses).
type PreprocessConfig struct {
	Mean []float32 `json:"mean,omitempty"`
	Std  []float32 `json:"std,omitempty"`
}

// VisionConfig is open_clip's vision_cfg for a ViT. InChannels is distac's
// addition (open_clip always uses 3); 0 means 3.
type VisionConfig struct {
	ImageSize  int     `json:"image_size"`
	PatchSize  int     `json:"patch_size"`
	Width      int     `json:"width"`
	Layers     int     `json:"layers"`
	Heads      int     `json:"heads,omitempty"`
	HeadWidth  int     `json:"head_width,omitempty"` // open_clip: heads = width / head_width (default 64)
	MLPRatio   float64 `json:"mlp_ratio,omitempty"`  // default 4
	InChannels int     `json:"in_channels,omitempty"`
	// LayerNormEps is every LayerNorm's eps (transformers' layer_norm_eps);
	// 0 means torch's default 1e-5, which open_clip uses.
	LayerNormEps float64 `json:"layer_norm_eps,omitempty"`
	// NoProj (distac's addition) drops the projection: the features are
	// ln_post of the class token, width wide, as transformers'
	// CLIPVisionModel gives them (its pooler_output,
	// post_layernorm(last_hidden_state[:, 0, :])). embed_dim is the width.
	NoProj bool `json:"no_proj,omitempty"`
}

// eps is the LayerNorm eps of the ViT.
func (v *VisionConfig) eps() float32 {
	if v.LayerNormEps > 0 {
		return float32(v.LayerNormEps)
	}
	return lnEps
}

// MLPConfig is a plain MLP over the flattened image: Linear, activation, ...,
// Linear to embed_dim (no activation after the last layer).
type MLPConfig struct {
	InFeatures int    `json:"in_features"`
	Hidden     []int  `json:"hidden"`
	Activation string `json:"activation,omitempty"` // "gelu" (default) or "quick_gelu"
	// Image geometry the MLP flattens (C*H*W must equal InFeatures); optional,
	// default 1 x sqrt(in) x sqrt(in) when in_features is a square.
	InChannels int `json:"in_channels,omitempty"`
	ImageSize  int `json:"image_size,omitempty"`
}

// ParseConfig reads a Config from JSON and checks it: open_clip's form, or
// a transformers CLIP config.json (ParseHFConfig).
func ParseConfig(data []byte) (*Config, error) {
	if isHFConfig(data) {
		return ParseHFConfig(data, nil)
	}
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("model config: %w", err)
	}
	if err := c.normalize(); err != nil {
		return nil, err
	}
	return &c, nil
}

// ReadConfig reads a Config from a JSON file: open_clip's form, or a
// transformers config.json, with the preprocessor_config.json beside it
// when there is one.
func ReadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if isHFConfig(data) {
		return ReadHFConfig(path)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// JSON is the config in open_clip form, as stored in checkpoint metadata.
func (c *Config) JSON() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// normalize fills defaults and rejects configs the engine cannot run.
func (c *Config) normalize() error {
	if (c.Vision == nil) == (c.MLP == nil) {
		return fmt.Errorf("model config: need exactly one of vision_cfg and mlp_cfg")
	}
	if v := c.Vision; v != nil && v.NoProj {
		if c.EmbedDim == 0 {
			c.EmbedDim = v.Width
		}
		if c.EmbedDim != v.Width {
			return fmt.Errorf("model config: embed_dim %d with no_proj: the features are the width %d", c.EmbedDim, v.Width)
		}
	}
	if c.EmbedDim <= 0 {
		return fmt.Errorf("model config: embed_dim %d must be positive", c.EmbedDim)
	}
	if pp := c.Preprocess; pp != nil {
		if len(pp.Mean) != len(pp.Std) {
			return fmt.Errorf("model config: preprocess_cfg has %d means and %d stds", len(pp.Mean), len(pp.Std))
		}
		for _, s := range pp.Std {
			if !(s > 0) {
				return fmt.Errorf("model config: preprocess_cfg std %g must be positive", s)
			}
		}
	}
	if v := c.Vision; v != nil {
		if v.InChannels == 0 {
			v.InChannels = 3
		}
		if v.MLPRatio == 0 {
			v.MLPRatio = 4
		}
		if v.Heads == 0 {
			hw := v.HeadWidth
			if hw == 0 {
				hw = 64
			}
			if hw > 0 && v.Width%hw == 0 {
				v.Heads = v.Width / hw
			}
		}
		switch {
		case v.ImageSize <= 0 || v.PatchSize <= 0 || v.ImageSize%v.PatchSize != 0:
			return fmt.Errorf("model config: image_size %d must be a positive multiple of patch_size %d", v.ImageSize, v.PatchSize)
		case v.Width <= 0 || v.Layers < 0 || v.InChannels <= 0:
			return fmt.Errorf("model config: width %d, layers %d and in_channels %d must be positive", v.Width, v.Layers, v.InChannels)
		case v.Heads <= 0 || v.Width%v.Heads != 0:
			return fmt.Errorf("model config: width %d is not divisible into %d heads", v.Width, v.Heads)
		case v.LayerNormEps < 0 || math.IsNaN(v.LayerNormEps) || math.IsInf(v.LayerNormEps, 0):
			return fmt.Errorf("model config: layer_norm_eps %g must be positive", v.LayerNormEps)
		case v.MLPRatio <= 0 || float64(int(v.MLPRatio*float64(v.Width))) != v.MLPRatio*float64(v.Width):
			return fmt.Errorf("model config: mlp_ratio %g times width %d must be a positive whole number", v.MLPRatio, v.Width)
		}
		v.HeadWidth = v.Width / v.Heads
		if v.LayerNormEps == lnEps { // the default, one spelling
			v.LayerNormEps = 0
		}
	}
	if m := c.MLP; m != nil {
		if m.Activation == "" {
			m.Activation = "gelu"
		}
		if m.Activation != "gelu" && m.Activation != "quick_gelu" {
			return fmt.Errorf("model config: mlp activation %q (want gelu or quick_gelu)", m.Activation)
		}
		if m.InFeatures <= 0 {
			return fmt.Errorf("model config: mlp in_features %d must be positive", m.InFeatures)
		}
		for _, h := range m.Hidden {
			if h <= 0 {
				return fmt.Errorf("model config: mlp hidden width %d must be positive", h)
			}
		}
		if m.InChannels == 0 {
			m.InChannels = 1
		}
		if m.ImageSize == 0 {
			s := 1
			for s*s*m.InChannels < m.InFeatures {
				s++
			}
			m.ImageSize = s
		}
		if m.InChannels*m.ImageSize*m.ImageSize != m.InFeatures {
			return fmt.Errorf("model config: mlp in_features %d is not in_channels %d x %d x %d", m.InFeatures, m.InChannels, m.ImageSize, m.ImageSize)
		}
	}
	return nil
}

// Input is the image geometry the encoder takes.
func (c *Config) Input() (ch, h, w int) {
	if c.Vision != nil {
		return c.Vision.InChannels, c.Vision.ImageSize, c.Vision.ImageSize
	}
	return c.MLP.InChannels, c.MLP.ImageSize, c.MLP.ImageSize
}
