package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nlpodyssey/safetensors"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/distac/data"
	"github.com/distac/distac/distac/merge"
	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/distac/train"
	"github.com/distac/distac/ffi"
)

func init() {
	register("predict", "write a model's logits for a set of images (safetensors or CSV)", runPredict)
	register("eval", "accuracy, mean entropy, confidence and ECE of a model under one or more heads", runEval)
}

const predictUsage = `usage: distac predict --model M --head HEAD --data SET --out logits.safetensors|logits.csv [flags]

Writes the logits normalize(features) @ head^T of every image, one row per
image (tensor "logits", and "labels" when the set has them), for evaluation
and for checking against other implementations.

flags:
`

func runPredict(args []string) error {
	fs := newFlagSet("predict", predictUsage)
	mh := addModelHeadFlags(fs, "images", "output .safetensors or .csv")
	batch := intFlag(fs, "batch", 256, 1, "images per forward pass")
	quiet := addQuietFlag(fs)
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	run, err := mh.open(fs, 0)
	if err != nil {
		return err
	}
	defer run.close()
	e, m, h, s := run.e, run.m, run.head, run.set
	out, force := mh.out, mh.force
	bar := newProgress("predict", "image", []string{*mh.data}, *quiet)
	logits, err := predictSet(e, m, h, s, *batch, bar, 0)
	bar.finish()
	if err != nil {
		return err
	}
	if strings.HasSuffix(*out, ".csv") {
		err = writeLogitsCSV(*out, logits, h.Classes, s.Labels, *force, run.inputs)
	} else {
		err = writeLogits(*out, logits, h.Classes, s.Labels, *force, run.inputs)
	}
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s: %d x %d logits\n", *out, s.Len(), h.Classes)
	return nil
}

func writeLogits(path string, logits []float32, classes int, labels []int32, force bool, inputs []string) error {
	n := len(logits) / classes
	ts := []checkpoint.OutTensor{{Name: "logits", DType: safetensors.F32, Shape: []uint64{uint64(n), uint64(classes)}}}
	if labels != nil {
		ts = append(ts, checkpoint.OutTensor{Name: "labels", DType: safetensors.I32, Shape: []uint64{uint64(n)}})
	}
	w, err := checkpoint.Create(path, ts, nil, 0, force, inputs)
	if err != nil {
		return err
	}
	err = w.WriteAt(0, 0, ffi.F32Bytes(logits))
	if err == nil && labels != nil {
		err = w.WriteAt(1, 0, ffi.I32Bytes(labels))
	}
	if err != nil {
		w.Abort()
		return err
	}
	return w.Commit()
}

// writeLogitsCSV writes one row per image: the logits, then the label when
// the set has labels.
func writeLogitsCSV(path string, logits []float32, classes int, labels []int32, force bool, inputs []string) error {
	var b strings.Builder
	for j := range classes {
		if j > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "logit%d", j)
	}
	if labels != nil {
		b.WriteString(",label")
	}
	b.WriteByte('\n')
	for r := range len(logits) / classes {
		for j, v := range logits[r*classes : (r+1)*classes] {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%.9g", v)
		}
		if labels != nil {
			fmt.Fprintf(&b, ",%d", labels[r])
		}
		b.WriteByte('\n')
	}
	return checkpoint.WriteFileAtomic(path, []byte(b.String()), force, inputs)
}

const evalUsage = `usage: distac eval --model M --head HEAD --data SET [--head HEAD --data SET ...] [flags]

Evaluates the model under each head on its labelled set: top-1 accuracy,
normalized accuracy (with --ref-acc, the fine-tuned models' accuracies),
mean prediction entropy, mean confidence, ECE (15 bins) and NLL. With
--calibrate VAL (once per head), a temperature is fitted on VAL by NLL and
the metrics are reported again at that temperature.

With --modulators FILE (an EMR merge's OUT.modulators.safetensors), --model
is the base theta_0 and the model evaluated is task i's EMR model
theta_0 + lambda_i M_i ⊙ tau_uni, i from --task-index (an index or a task's
file name): run eval once per task with that task's head and data.

flags:
`

func runEval(args []string) error {
	fs := newFlagSet("eval", evalUsage)
	mf := addModelFlags(fs)
	var heads, sets, cals listFlag
	fs.Var(&heads, "head", "head .safetensors (repeat per task)")
	fs.Var(&sets, "data", "labelled test images (repeat per task)")
	fs.Var(&cals, "calibrate", "labelled validation images for temperature scaling (repeat per task)")
	var refAcc floatsFlag
	fs.Var(&refAcc, "ref-acc", "accuracies (0..1) of the fine-tuned models, comma-separated per task, for normalized accuracy")
	maxImages := intFlag(fs, "max-images", 0, 0, "a seeded stratified sample of this many images per set (0: all)")
	batch := intFlag(fs, "batch", 256, 1, "images per forward pass")
	asJSON := addJSONFlag(fs)
	quiet := addQuietFlag(fs)
	modulators := fs.String("modulators", "", "EMR modulators file: --model is the base, evaluated as task --task-index's EMR model")
	taskIndex := fs.String("task-index", "", "with --modulators: the task, by index (0, 1, ...) or by its file name")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if mf.path == "" || len(heads) == 0 || len(heads) != len(sets) {
		fs.Usage()
		return errors.New("--model and one --data per --head are required")
	}
	if (*modulators == "") != (*taskIndex == "") {
		return errors.New("--modulators and --task-index go together")
	}
	if *modulators != "" {
		path, cleanup, err := modulatedModel(mf.path, *modulators, *taskIndex)
		if err != nil {
			return err
		}
		defer cleanup()
		mf.path = path
	}
	if len(cals) != 0 && len(cals) != len(heads) {
		return fmt.Errorf("--calibrate is given %d times for %d heads", len(cals), len(heads))
	}
	if len(refAcc) != 0 && len(refAcc) != len(heads) {
		return fmt.Errorf("--ref-acc has %d values for %d heads", len(refAcc), len(heads))
	}
	for _, a := range refAcc {
		if !(a > 0 && a <= 1) {
			return fmt.Errorf("--ref-acc %g: want an accuracy in (0, 1]", a)
		}
	}
	e, m, err := mf.open()
	if err != nil {
		return err
	}
	defer m.Close()
	type row struct {
		Data        string         `json:"data"`
		Metrics     train.Metrics  `json:"metrics"`
		Normalized  *float64       `json:"normalized_accuracy,omitempty"`
		Temperature float64        `json:"temperature,omitempty"`
		Calibrated  *train.Metrics `json:"calibrated,omitempty"`
	}
	var rows []row
	bar := newProgress("eval", "image", sets, *quiet)
	defer bar.finish()
	for i := range heads {
		h, err := loadHeadFor(e, heads[i], m.Config)
		if err != nil {
			return err
		}
		s, err := mf.loadSet(sets[i], m.Config, *maxImages, 0)
		if err != nil {
			return err
		}
		if !s.Labelled() {
			return fmt.Errorf("%s has no labels (eval needs them; 'distac predict' writes logits of unlabelled images)", sets[i])
		}
		logits, err := predictSet(e, m, h, s, *batch, bar, i)
		if err != nil {
			return err
		}
		met, err := train.Evaluate(logits, h.Classes, s.Labels, 1)
		if err != nil {
			return fmt.Errorf("%s: %w", sets[i], err)
		}
		r := row{Data: sets[i], Metrics: met}
		if len(refAcc) > 0 {
			v := met.Accuracy / refAcc[i]
			r.Normalized = &v
		}
		if len(cals) > 0 {
			vs, err := mf.loadSet(cals[i], m.Config, *maxImages, 0)
			if err != nil {
				return err
			}
			vl, err := train.Predict(e, m.Encoder, m.Params, h, vs.Images, vs.Len(), *batch)
			if err != nil {
				return err
			}
			if r.Temperature, err = train.FitTemperature(vl, h.Classes, vs.Labels); err != nil {
				return fmt.Errorf("%s: %w", cals[i], err)
			}
			cm, _ := train.Evaluate(logits, h.Classes, s.Labels, r.Temperature)
			r.Calibrated = &cm
		}
		rows = append(rows, r)
		h.Free(e)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	width := len("data")
	for _, r := range rows {
		width = max(width, len(r.Data))
	}
	fmt.Printf("%-*s %7s %7s %8s %8s %7s %7s %14s\n", width, "data", "n", "acc %", "norm %", "entropy", "conf", "ECE", "T / ECE after")
	for _, r := range rows {
		norm, cal := "-", "-"
		if r.Normalized != nil {
			norm = fmt.Sprintf("%.2f", 100**r.Normalized)
		}
		if r.Calibrated != nil {
			cal = fmt.Sprintf("%.2f / %.4f", r.Temperature, r.Calibrated.ECE)
		}
		fmt.Printf("%-*s %7d %7.2f %8s %8.4f %7.4f %7.4f %14s\n", width, r.Data, r.Metrics.N, 100*r.Metrics.Accuracy, norm,
			r.Metrics.MeanEntropy, r.Metrics.MeanMaxProb, r.Metrics.ECE, cal)
	}
	return nil
}

// predictSet is train.Predict over s in slices of a few thousand images,
// reporting the images done as task i of bar.
func predictSet(e model.Engine, m *model.Loaded, h *model.Head, s *data.Set, batch int, bar *progress, i int) ([]float32, error) {
	n, per := s.Len(), s.ImageSize()
	slice := batch * max(1, 4096/batch) // whole batches: the same batches as one call
	logits := make([]float32, 0, n*h.Classes)
	for lo := 0; lo < n; lo += slice {
		hi := min(n, lo+slice)
		l, err := train.Predict(e, m.Encoder, m.Params, h, s.Images[lo*per:hi*per], hi-lo, batch)
		if err != nil {
			return nil, err
		}
		logits = append(logits, l...)
		bar.set(i, int64(hi), int64(n), "")
	}
	return logits, nil
}

// modulatedModel writes task's EMR model (base + its modulator) to a
// temporary file and returns its path and what removes it.
func modulatedModel(base, modulators, task string) (string, func(), error) {
	md, err := merge.OpenModulators(modulators)
	if err != nil {
		return "", nil, err
	}
	defer md.Close()
	t, err := md.Task(task)
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "distac-emr-")
	if err != nil {
		return "", nil, err
	}
	path := filepath.Join(dir, "model.safetensors")
	if err := merge.ApplyModulator(base, md, t, path, false); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("--modulators %s: %w", modulators, err)
	}
	return path, func() { os.RemoveAll(dir) }, nil
}
