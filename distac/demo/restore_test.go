package demo

// DisTaC on real data, on the demo's own base (rotation pre-training on the
// four demo sets' images, a prototype head): a model fine-tuned on MNIST into
// a long task vector and shrunk to kappa = 0.3 loses accuracy, and 200
// label-free distillation steps bring it back to within a point of its
// teacher at well under half the length; confidence conditioning makes a
// label-smoothed teacher's student more confident than the teacher.

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/distac/distac/distac/data"
	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/distac/train"
	"github.com/distac/distac/ffi"
)

type mnistSetup struct {
	e           model.Engine
	enc         model.Encoder
	base        *model.Params
	head        *model.Head
	train, test *data.Set
}

// The base and head are built once for the package's tests.
var (
	mnistOnce   sync.Once
	mnistShared *mnistSetup
	mnistErr    error
)

func newMNISTSetup(t *testing.T) *mnistSetup {
	t.Helper()
	if testing.Short() {
		t.Skip("pre-trains, fine-tunes and conditions a ViT on MNIST (a minute or two)")
	}
	mnistOnce.Do(func() { mnistShared, mnistErr = buildMNISTSetup() })
	if errors.Is(mnistErr, data.ErrNotInstalled) {
		t.Skipf("MNIST setup: %v", mnistErr)
	}
	if mnistErr != nil {
		t.Fatalf("MNIST setup: %v", mnistErr)
	}
	return mnistShared
}

func buildMNISTSetup() (*mnistSetup, error) {
	// The demo's default base: the same four pooled sets, splits and seed.
	r := DefaultRecipe()
	tasks, err := loadTasks(DefaultTasks, r.Splits, r.Mean, r.Std, 0)
	if err != nil {
		return nil, err
	}
	be, err := ffi.Open("cpu", 0)
	if err != nil {
		return nil, err
	}
	e, _ := model.AsEngine(be)
	cfg, err := model.ParseConfig([]byte(smallViT))
	if err != nil {
		return nil, err
	}
	s := &mnistSetup{e: e, enc: model.New(cfg), train: tasks[0].Train, test: tasks[0].Test}
	if s.base, err = pretrainBase(e, s.enc, pooled(tasks, r.Pretrain.PoolPerTask, 0), r.Pretrain.Steps, r.Pretrain.Batch, r.Pretrain.LR, 0, nil); err != nil {
		return nil, err
	}
	w, err := train.PrototypeHead(e, s.enc, s.base, s.train.Take(r.Head.Examples, 0), 10, r.Head.Scale, evalBatch)
	if err != nil {
		return nil, err
	}
	if s.head, err = model.NewHead(e, w, 10, cfg.EmbedDim); err != nil {
		return nil, err
	}
	return s, nil
}

// finetune trains MNIST with the demo's ideal recipe, its learning rate and
// steps scaled by lrFactor and stepsFactor (the boosted task of the norm
// mismatch: 8 and 2), and label smoothing.
func (s *mnistSetup) finetune(t *testing.T, lrFactor, stepsFactor float64, smoothing float32) *model.Params {
	t.Helper()
	r := DefaultRecipe()
	o := train.DefaultFinetuneOptions()
	o.Steps, o.Batch, o.LR, o.WeightDecay = int(stepsFactor*float64(r.Finetune.Steps)), r.Finetune.Batch, lrFactor*r.Finetune.LR, r.Finetune.WeightDecay
	o.Warmup, o.LabelSmoothing = o.Steps/10, smoothing
	ft, _, err := train.Finetune(context.Background(), s.e, s.enc, s.base, s.head, s.train, o)
	if err != nil {
		t.Fatal(err)
	}
	return ft
}

func (s *mnistSetup) condition(t *testing.T, ft *model.Params, o train.ConditionOptions) *train.ConditionResult {
	t.Helper()
	o.NewEngine = func(int) (model.Engine, error) { return s.e, nil }
	unlabelled := &data.Set{Name: "mnist-unlabelled", C: 1, H: 28, W: 28, Images: s.train.Images}
	res, err := train.Condition(context.Background(), s.enc, s.base, []train.Task{{Name: "mnist", Params: ft, Head: s.head, Inputs: unlabelled, Eval: s.test}}, o)
	if err != nil {
		t.Fatal(err)
	}
	return res[0]
}

func TestDisTaCRestoresShrunkMNIST(t *testing.T) {
	s := newMNISTSetup(t)
	o := train.DefaultConditionOptions()
	// The long task vector of the demo's norm mismatch (8x the learning
	// rate, 2x the steps), shrunk to 0.3 of its length. A short warm-up: the
	// paper's pure ramp (warm-up = steps) ends about 0.7 points below the
	// teacher here, 20 steps about 0.45.
	o.Kappa, o.Steps, o.Batch, o.LR, o.Warmup = 0.3, 200, 128, DefaultRecipe().DisTaC.Norm.LR, 20
	r := s.condition(t, s.finetune(t, 8, 2, 0), o)
	t.Logf("kappa %.2f: norm %.3f -> %.3f; accuracy teacher %.2f%%, shrunk %.2f%%, conditioned %.2f%%",
		r.Kappa, r.NormBefore, r.NormAfter, 100*r.Teacher.Accuracy, 100*r.Scaled.Accuracy, 100*r.Student.Accuracy)
	if r.Teacher.Accuracy < 0.9 {
		t.Fatalf("teacher accuracy %.3f: the fine-tuning itself is broken", r.Teacher.Accuracy)
	}
	if r.Scaled.Accuracy > r.Teacher.Accuracy-0.02 {
		t.Errorf("shrinking to kappa 0.3 lost only %.2f points: the test shows nothing", 100*(r.Teacher.Accuracy-r.Scaled.Accuracy))
	}
	if r.Student.Accuracy < r.Teacher.Accuracy-0.01 {
		t.Errorf("conditioned accuracy %.2f%% is more than 1 point below the teacher's %.2f%%", 100*r.Student.Accuracy, 100*r.Teacher.Accuracy)
	}
	if r.NormAfter > 0.6*r.NormBefore {
		t.Errorf("the conditioned task vector (%.3f) is not short any more (teacher %.3f)", r.NormAfter, r.NormBefore)
	}
}

func TestConfidenceConditioningSharpens(t *testing.T) {
	s := newMNISTSetup(t)
	o := train.DefaultConditionOptions()
	o.TTcr, o.TStu, o.Steps, o.Batch, o.LR = 1, 10, 200, 128, DefaultRecipe().DisTaC.Conf.LR
	r := s.condition(t, s.finetune(t, 1, 1, 0.3), o)
	t.Logf("label-smoothed teacher: confidence %.3f, entropy %.3f, accuracy %.2f%%; student: %.3f, %.3f, %.2f%%",
		r.Teacher.MeanMaxProb, r.Teacher.MeanEntropy, 100*r.Teacher.Accuracy, r.Student.MeanMaxProb, r.Student.MeanEntropy, 100*r.Student.Accuracy)
	if r.Student.MeanMaxProb <= r.Teacher.MeanMaxProb+0.1 {
		t.Errorf("student confidence %.3f is not clearly above the teacher's %.3f", r.Student.MeanMaxProb, r.Teacher.MeanMaxProb)
	}
	if r.Student.Accuracy < r.Teacher.Accuracy-0.02 {
		t.Errorf("confidence conditioning cost %.2f points of accuracy", 100*(r.Teacher.Accuracy-r.Student.Accuracy))
	}
}
