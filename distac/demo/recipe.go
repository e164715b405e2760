package demo

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/distac/distac/distac/model"
)

// Recipe holds every setting of the demo's pipeline; results.json records
// it, and each cached artifact's name carries a hash of the settings it
// depends on, so changing one reruns exactly what it affects.
type Recipe struct {
	// Model is the encoder's config: open_clip's JSON, a transformers
	// CLIPVisionConfig JSON (the demo's checkpoints are then written in
	// transformers' names), or the path of a file holding either (an HF
	// folder's config.json, or the folder), which Run reads and records
	// here by its content.
	Model  string     `json:"model"`
	Mean   float32    `json:"mean"` // pixel normalisation
	Std    float32    `json:"std"`
	Splits splitSizes `json:"splits"`

	Pretrain struct {
		PoolPerTask int     `json:"pool_per_task"` // unlabelled images per task, each seen in 4 rotations
		Steps       int     `json:"steps"`
		Batch       int     `json:"batch"`
		LR          float64 `json:"lr"`
	} `json:"pretrain"`

	Head struct {
		Examples int     `json:"examples"` // labelled images per task for the class prototypes
		Scale    float64 `json:"scale"`    // logit scale (CLIP: 100)
	} `json:"head"`

	// Finetune is the ideal recipe every task gets.
	Finetune struct {
		Steps       int     `json:"steps"`
		Batch       int     `json:"batch"`
		LR          float64 `json:"lr"`
		WeightDecay float64 `json:"weight_decay"`
	} `json:"finetune"`

	// Mismatch: the first Boosted tasks are fine-tuned with LRFactor times
	// the learning rate and StepsFactor times the steps (long task
	// vectors); the others keep their ideal models.
	Mismatch struct {
		Boosted     int     `json:"boosted"`
		LRFactor    float64 `json:"lr_factor"`
		StepsFactor float64 `json:"steps_factor"`
	} `json:"mismatch"`

	// LowConfidence: every task fine-tuned with label smoothing and mixup.
	LowConfidence struct {
		LabelSmoothing float32 `json:"label_smoothing"`
		Mixup          float64 `json:"mixup"`
	} `json:"low_confidence"`

	// DisTaC: the norm fix conditions the norm-mismatch column, the
	// confidence fix the low-confidence one.
	DisTaC struct {
		Steps int       `json:"steps"`
		Batch int       `json:"batch"`
		Norm  DisTaCFix `json:"norm"`
		Conf  DisTaCFix `json:"confidence"`
		// Precision of the steps' matrix products: f32 (""), or bf16
		// mixed precision (distac condition --precision bf16).
		Precision model.Precision `json:"precision,omitempty"`
	} `json:"distac"`
}

// resolveModel replaces a Model that names a file (anything but a JSON
// object) with the file's text: a folder stands for its config.json. The
// recipe, results.json and the cache keys then hold the config itself.
func (r *Recipe) resolveModel() error {
	m := strings.TrimSpace(r.Model)
	if strings.HasPrefix(m, "{") {
		return nil
	}
	path := m
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, model.HFConfigName)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("recipe model: %w", err)
	}
	r.Model = strings.TrimSpace(string(b))
	return nil
}

// naming is how the demo names its checkpoints' tensors: transformers'
// for a transformers config, open_clip's otherwise.
func (r *Recipe) naming() model.Naming {
	if model.IsHFConfig([]byte(r.Model)) {
		return model.Naming{Kind: model.NamingHF}
	}
	return model.Naming{Kind: model.NamingOpenCLIP}
}

// DisTaCFix is one use of DisTaC: its temperatures, kappa, anchor and
// learning rate.
type DisTaCFix struct {
	TTcr  float32 `json:"t_tcr"`
	TStu  float32 `json:"t_stu"`
	Kappa float64 `json:"kappa"` // 0: the mean norm of the other task vectors over this one's, at most 1
	Beta  float32 `json:"beta"`  // anchor weight
	LR    float64 `json:"lr"`
}

// DefaultRecipe is the demo's default run.
func DefaultRecipe() Recipe {
	var r Recipe
	r.Model = smallViT
	r.Mean, r.Std = 0.2, 0.3
	r.Splits = splitSizes{Train: 8000, Val: 250, Test: 2000}
	r.Pretrain.PoolPerTask, r.Pretrain.Steps, r.Pretrain.Batch, r.Pretrain.LR = 3000, 600, 128, 2e-3
	r.Head.Examples, r.Head.Scale = 1000, 50
	r.Finetune.Steps, r.Finetune.Batch, r.Finetune.LR, r.Finetune.WeightDecay = 300, 128, 1e-3, 0.1
	r.Mismatch.Boosted, r.Mismatch.LRFactor, r.Mismatch.StepsFactor = 1, 8, 2
	r.LowConfidence.LabelSmoothing, r.LowConfidence.Mixup = 0.5, 0
	r.DisTaC.Steps, r.DisTaC.Batch = 200, 128
	r.DisTaC.Norm = DisTaCFix{TTcr: 10, TStu: 10, Beta: 0.1, LR: 1e-3}
	r.DisTaC.Conf = DisTaCFix{TTcr: 1, TStu: 10, Beta: 0, LR: 1e-3}
	return r
}

// QuickRecipe is a few-second version for tests: same pipeline, tiny sizes.
func QuickRecipe() Recipe {
	r := DefaultRecipe()
	r.Splits = splitSizes{Train: 600, Val: 60, Test: 120}
	r.Pretrain.PoolPerTask, r.Pretrain.Steps, r.Pretrain.Batch = 150, 20, 32
	r.Head.Examples = 200
	r.Finetune.Steps, r.Finetune.Batch = 20, 32
	r.DisTaC.Steps, r.DisTaC.Batch = 10, 32
	return r
}
