package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// HFConfigName and HFPreprocessorName are the files of a transformers model
// folder that describe the model and its image preprocessing.
const (
	HFConfigName       = "config.json"
	HFPreprocessorName = "preprocessor_config.json"
)

// hfVision is transformers' CLIPVisionConfig, the fields distac uses.
// save_pretrained writes only the values that differ from the defaults, so
// an absent key takes CLIPVisionConfig's default (hfVisionDefaults).
type hfVision struct {
	ModelType         string   `json:"model_type,omitempty"`
	Architectures     []string `json:"architectures,omitempty"`
	HiddenSize        int      `json:"hidden_size"`
	IntermediateSize  int      `json:"intermediate_size"`
	ProjectionDim     int      `json:"projection_dim"`
	NumHiddenLayers   int      `json:"num_hidden_layers"`
	NumAttentionHeads int      `json:"num_attention_heads"`
	NumChannels       int      `json:"num_channels"`
	ImageSize         int      `json:"image_size"`
	PatchSize         int      `json:"patch_size"`
	HiddenAct         string   `json:"hidden_act"`
	LayerNormEps      float64  `json:"layer_norm_eps"`
	TorchDType        string   `json:"torch_dtype,omitempty"`
}

// hfVisionDefaults are CLIPVisionConfig's defaults (ViT-B/32).
var hfVisionDefaults = hfVision{HiddenSize: 768, IntermediateSize: 3072, ProjectionDim: 512, NumHiddenLayers: 12,
	NumAttentionHeads: 12, NumChannels: 3, ImageSize: 224, PatchSize: 32, HiddenAct: "quick_gelu", LayerNormEps: 1e-5}

// isHFConfig reports whether data is a transformers config (it has a
// model_type or a vision_config), not open_clip's form.
func isHFConfig(data []byte) bool {
	var probe struct {
		ModelType    *string         `json:"model_type"`
		VisionConfig json.RawMessage `json:"vision_config"`
		VisionCfg    json.RawMessage `json:"vision_cfg"`
	}
	if json.Unmarshal(data, &probe) != nil || probe.VisionCfg != nil {
		return false
	}
	return probe.ModelType != nil || probe.VisionConfig != nil
}

// IsHFConfig reports whether data is a transformers config.json (a
// model_type or a vision_config), not open_clip's form: what ParseConfig
// reads with ParseHFConfig, and what a model written in transformers'
// names is described by.
func IsHFConfig(data []byte) bool { return isHFConfig(data) }

// ParseHFConfig reads a transformers CLIP config.json: a CLIPVisionConfig
// (model_type clip_vision_model, as CLIPVisionModelWithProjection saves it)
// or a CLIPConfig (model_type clip) whose vision_config it takes, with the
// projection width of the CLIPConfig. preprocessor, if not nil, is the
// folder's preprocessor_config.json: its image_mean and image_std become
// preprocess_cfg (distac's pixels are in [0, 1], which is CLIPImageProcessor's
// rescale by 1/255; mean and std apply after, as there).
func ParseHFConfig(data, preprocessor []byte) (*Config, error) {
	var top struct {
		ModelType     string          `json:"model_type"`
		VisionConfig  json.RawMessage `json:"vision_config"`
		ProjectionDim *int            `json:"projection_dim"`
	}
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("transformers config: %w", err)
	}
	v := hfVisionDefaults
	switch {
	case top.ModelType == "clip" || (top.ModelType == "" && top.VisionConfig != nil):
		if top.VisionConfig != nil {
			if err := json.Unmarshal(top.VisionConfig, &v); err != nil {
				return nil, fmt.Errorf("transformers config: vision_config: %w", err)
			}
		}
		// CLIPModel's visual_projection is Linear(hidden, projection_dim of
		// the CLIPConfig), default 512.
		v.ProjectionDim, v.Architectures = 512, nil
		if top.ProjectionDim != nil {
			v.ProjectionDim = *top.ProjectionDim
		}
	case top.ModelType == "clip_vision_model":
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, fmt.Errorf("transformers config: %w", err)
		}
	default:
		return nil, fmt.Errorf("transformers config: model_type %q: distac reads CLIP vision models (model_type clip_vision_model or clip)", top.ModelType)
	}
	c, err := v.config()
	if err != nil {
		return nil, err
	}
	if preprocessor != nil {
		if c.Preprocess, err = parseHFPreprocessor(preprocessor); err != nil {
			return nil, err
		}
	}
	if err := c.normalize(); err != nil {
		return nil, err
	}
	return c, nil
}

// Architectures of a CLIPVisionConfig: with a projection (the features are
// visual_projection of the pooled output) or without (the pooled output).
const (
	hfWithProjection = "CLIPVisionModelWithProjection"
	hfVisionModel    = "CLIPVisionModel"
)

// config is v in distac's (open_clip) form: a CLIPVisionModel (architectures
// naming it and not the projection's) has no projection.
func (v hfVision) config() (*Config, error) {
	var quick bool
	switch v.HiddenAct {
	case "quick_gelu":
		quick = true
	case "gelu": // the exact erf GELU, as distac's
	default:
		return nil, fmt.Errorf("transformers config: hidden_act %q (distac runs gelu and quick_gelu)", v.HiddenAct)
	}
	if v.HiddenSize <= 0 || v.IntermediateSize <= 0 {
		return nil, fmt.Errorf("transformers config: hidden_size %d and intermediate_size %d must be positive", v.HiddenSize, v.IntermediateSize)
	}
	noProj := slices.Contains(v.Architectures, hfVisionModel) && !slices.Contains(v.Architectures, hfWithProjection)
	embed := v.ProjectionDim
	if noProj {
		embed = v.HiddenSize
	}
	return &Config{
		EmbedDim:  embed,
		QuickGELU: quick,
		Vision: &VisionConfig{
			ImageSize: v.ImageSize, PatchSize: v.PatchSize, Width: v.HiddenSize, Layers: v.NumHiddenLayers,
			Heads: v.NumAttentionHeads, MLPRatio: float64(v.IntermediateSize) / float64(v.HiddenSize),
			InChannels: v.NumChannels, LayerNormEps: v.LayerNormEps, NoProj: noProj,
		},
	}, nil
}

// parseHFPreprocessor reads a CLIPImageProcessor's image_mean and
// image_std; do_normalize false means none (mean 0, std 1).
func parseHFPreprocessor(data []byte) (*PreprocessConfig, error) {
	var p struct {
		ImageMean   []float32 `json:"image_mean"`
		ImageStd    []float32 `json:"image_std"`
		DoNormalize *bool     `json:"do_normalize"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", HFPreprocessorName, err)
	}
	if p.DoNormalize != nil && !*p.DoNormalize {
		return &PreprocessConfig{Mean: []float32{0}, Std: []float32{1}}, nil
	}
	if p.ImageMean == nil && p.ImageStd == nil {
		return nil, nil
	}
	return &PreprocessConfig{Mean: p.ImageMean, Std: p.ImageStd}, nil
}

// ReadHFConfig reads a transformers config.json (ParseHFConfig) and the
// preprocessor_config.json beside it, if there is one.
func ReadHFConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pre, err := os.ReadFile(filepath.Join(filepath.Dir(path), HFPreprocessorName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	c, err := ParseHFConfig(data, pre)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// HFFiles are the config.json and (when c has a preprocess_cfg) the
// preprocessor_config.json transformers reads c's ViT with:
// CLIPVisionModelWithProjection (CLIPVisionModel without a projection,
// projection_dim then the width), every field written out.
func HFFiles(c *Config) (map[string][]byte, error) {
	v := c.Vision
	if v == nil {
		return nil, errors.New("transformers' CLIP naming is for ViTs (vision_cfg), not MLPs")
	}
	act := "gelu"
	if c.QuickGELU {
		act = "quick_gelu"
	}
	arch := hfWithProjection
	if v.NoProj {
		arch = hfVisionModel
	}
	hv := hfVision{ModelType: "clip_vision_model", Architectures: []string{arch},
		HiddenSize: v.Width, IntermediateSize: int(v.MLPRatio * float64(v.Width)), ProjectionDim: c.EmbedDim,
		NumHiddenLayers: v.Layers, NumAttentionHeads: v.Heads, NumChannels: v.InChannels, ImageSize: v.ImageSize,
		PatchSize: v.PatchSize, HiddenAct: act, LayerNormEps: lnEps, TorchDType: "float32"}
	if v.LayerNormEps > 0 {
		hv.LayerNormEps = v.LayerNormEps
	}
	cfg, err := json.MarshalIndent(hv, "", "  ")
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{HFConfigName: append(cfg, '\n')}
	if pp := c.Preprocess; pp != nil {
		// One value for all channels is spelled out per channel, as the
		// processor wants it.
		mean, std := pp.Mean, pp.Std
		if len(mean) == 1 && v.InChannels > 1 {
			mean, std = repeat(mean[0], v.InChannels), repeat(std[0], v.InChannels)
		}
		proc := map[string]any{
			"image_processor_type": "CLIPImageProcessor", "do_resize": true, "size": map[string]int{"shortest_edge": v.ImageSize},
			"resample": 3, "do_center_crop": true, "crop_size": map[string]int{"height": v.ImageSize, "width": v.ImageSize},
			"do_rescale": true, "rescale_factor": 1.0 / 255, "do_normalize": true, "image_mean": mean, "image_std": std,
			"do_convert_rgb": v.InChannels == 3,
		}
		b, err := json.MarshalIndent(proc, "", "  ")
		if err != nil {
			return nil, err
		}
		files[HFPreprocessorName] = append(b, '\n')
	}
	return files, nil
}

func repeat(x float32, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = x
	}
	return out
}
