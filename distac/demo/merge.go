package demo

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/distac/merge"
	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/distac/train"
	"github.com/distac/distac/ffi"
)

// Merge methods the demo reports, in the table's order.
var demoMethods = []string{merge.MethodTA, merge.MethodTIES, merge.MethodConsensus, merge.MethodTSVM, merge.MethodIsoC,
	merge.MethodWUDI, merge.MethodEMR}

// MethodResult is one merge method on one column of models.
type MethodResult struct {
	Method  string    `json:"method"`
	Alpha   float64   `json:"alpha"`
	Lambdas []float64 `json:"lambdas,omitempty"` // consensus: lambda_t chosen per task
	ValAcc  float64   `json:"val_accuracy"`      // mean over tasks at the chosen alpha
	// On test, per task and their means: absolute accuracy, and normalized
	// accuracy acc_merged(t) / acc_finetuned(t).
	TestAcc    []float64 `json:"test_accuracy"`
	Normalized []float64 `json:"normalized_accuracy"`
	MeanAcc    float64   `json:"mean_accuracy"`
	MeanNorm   float64   `json:"mean_normalized_accuracy"`
	// Temperature scaling fitted per task on validation: ECE on test
	// before and after, and the temperatures.
	ECEBefore    []float64  `json:"ece_before"`
	ECEAfter     []float64  `json:"ece_after"`
	Temperatures []float64  `json:"temperatures"`
	MeanECE      [2]float64 `json:"mean_ece"` // before, after
}

// chooseAlpha searches the grid 0..1 step 0.05, coarse (step 0.1) then
// at the two neighbours of the coarse best, for theta = base + alpha *
// delta: one delta for every task, or (EMR) one per task, each task
// evaluated with its own.
func (p *pipeline) chooseAlpha(base []float32, deltas [][]float32) (float64, float64, error) {
	w := make([]float32, len(base))
	score := map[float64]float64{}
	at := func(a float64) (float64, error) {
		a = math.Round(a*20) / 20
		if s, ok := score[a]; ok {
			return s, nil
		}
		var accs []float64
		for t, delta := range deltas {
			for i := range w {
				w[i] = base[i] + float32(a)*delta[i]
			}
			if err := p.ev.load(w); err != nil {
				return 0, err
			}
			if len(deltas) == 1 {
				ms, err := p.ev.metrics(val)
				if err != nil {
					return 0, err
				}
				accs = accuracies(ms)
				break
			}
			m, err := p.ev.taskMetrics(t, p.tasks[t].Val)
			if err != nil {
				return 0, err
			}
			accs = append(accs, m.Accuracy)
		}
		score[a] = mean(accs)
		return score[a], nil
	}
	best, bestS := 0.0, -1.0
	for a := 0.0; a <= 1.0001; a += 0.1 {
		s, err := at(a)
		if err != nil {
			return 0, 0, err
		}
		if s > bestS {
			best, bestS = math.Round(a*20)/20, s
		}
	}
	for _, a := range []float64{best - 0.05, best + 0.05} {
		if a < 0 || a > 1 {
			continue
		}
		s, err := at(a)
		if err != nil {
			return 0, 0, err
		}
		if s > bestS {
			best, bestS = a, s
		}
	}
	return best, bestS, nil
}

// column is one set of task models merged with every method.
type column struct {
	Name     string
	Tasks    []string  // checkpoint files, one per task
	Finetune []float64 // test accuracy of the models the column normalises by
	models   []*ftModel
}

// mergeColumn runs every method on col.
func (p *pipeline) mergeColumn(col *column) ([]*MethodResult, error) {
	taus := make([][]float32, len(col.Tasks))
	for i, path := range col.Tasks {
		w, err := p.readWeights(path)
		if err != nil {
			return nil, err
		}
		taus[i] = sub(w, p.baseW)
	}
	var out []*MethodResult
	var taAlpha float64
	for _, m := range demoMethods {
		r, err := p.mergeMethod(col, m, taus, taAlpha)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", col.Name, m, err)
		}
		if m == merge.MethodTA {
			taAlpha = r.Alpha
		}
		out = append(out, r)
	}
	return out, nil
}

func (p *pipeline) mergeMethod(col *column, method string, taus [][]float32, taAlpha float64) (*MethodResult, error) {
	o := merge.Options{Method: method, Base: p.basePath, Tasks: col.Tasks, Alpha: 1, Backend: p.e, Force: true}
	r := &MethodResult{Method: method}
	if method == merge.MethodConsensus {
		ls, err := p.chooseLambdas(taus, taAlpha)
		if err != nil {
			return nil, err
		}
		r.Lambdas = ls
		text := make([]string, len(ls))
		for i, l := range ls {
			text[i] = strconv.FormatFloat(l, 'g', -1, 64)
		}
		o.Params = map[string]string{"lambda": strings.Join(text, ",")}
	}
	o.Out = filepath.Join(p.scratch, "merged.safetensors")
	rep, err := merge.Run(context.Background(), o)
	if err != nil {
		return nil, err
	}
	var deltas [][]float32
	if method == merge.MethodEMR {
		deltas, err = p.emrDeltas(rep.Modulators)
		os.Remove(rep.Modulators)
	} else {
		var merged []float32
		if merged, err = p.readWeights(o.Out); err == nil {
			deltas = [][]float32{sub(merged, p.baseW)}
		}
	}
	os.Remove(o.Out)
	if err != nil {
		return nil, err
	}
	if r.Alpha, r.ValAcc, err = p.chooseAlpha(p.baseW, deltas); err != nil {
		return nil, err
	}
	ws := make([][]float32, len(deltas))
	for t, delta := range deltas {
		ws[t] = make([]float32, len(delta))
		for i := range delta {
			ws[t][i] = p.baseW[i] + float32(r.Alpha)*delta[i]
		}
	}
	return r, p.testAndCalibrate(r, ws, col.Finetune)
}

// emrDeltas is each task's EMR update lambda_t M_t ⊙ tau_uni, from the
// modulators an EMR merge wrote.
func (p *pipeline) emrDeltas(path string) ([][]float32, error) {
	md, err := merge.OpenModulators(path)
	if err != nil {
		return nil, err
	}
	defer md.Close()
	var out [][]float32
	for t := range md.Tasks {
		tp := filepath.Join(p.scratch, "emr-task.safetensors")
		if err := merge.ApplyModulator(p.basePath, md, t, tp, true); err != nil {
			return nil, err
		}
		w, err := p.readWeights(tp)
		os.Remove(tp)
		if err != nil {
			return nil, err
		}
		out = append(out, sub(w, p.baseW))
	}
	return out, nil
}

// testAndCalibrate fills in r's test numbers for weights ws: one model for
// every task, or (EMR) one per task.
func (p *pipeline) testAndCalibrate(r *MethodResult, ws [][]float32, ft []float64) error {
	for t, tk := range p.tasks {
		if t == 0 || len(ws) > 1 {
			if err := p.ev.load(ws[min(t, len(ws)-1)]); err != nil {
				return err
			}
		}
		zt, err := p.ev.logits(t, tk.Test)
		if err != nil {
			return err
		}
		zv, err := p.ev.logits(t, tk.Val)
		if err != nil {
			return err
		}
		classes := p.heads[t].Classes
		before, err := train.Evaluate(zt, classes, tk.Test.Labels, 1)
		if err != nil {
			return err
		}
		temp, err := train.FitTemperature(zv, classes, tk.Val.Labels)
		if err != nil {
			return err
		}
		after, _ := train.Evaluate(zt, classes, tk.Test.Labels, temp)
		r.TestAcc = append(r.TestAcc, before.Accuracy)
		r.Normalized = append(r.Normalized, before.Accuracy/ft[t])
		r.ECEBefore = append(r.ECEBefore, before.ECE)
		r.ECEAfter = append(r.ECEAfter, after.ECE)
		r.Temperatures = append(r.Temperatures, temp)
	}
	r.MeanAcc, r.MeanNorm = mean(r.TestAcc), mean(r.Normalized)
	r.MeanECE = [2]float64{mean(r.ECEBefore), mean(r.ECEAfter)}
	return nil
}

// chooseLambdas picks TALL's lambda_t per task (Wang et al.): the value in
// {0.2, ..., 0.6} whose mask m_t = |tau_t| > lambda |tau_MTL - tau_t| gives
// the task-specific model theta_0 + alpha (m_t * tau_MTL) the best
// validation accuracy on task t, with alpha the one task arithmetic chose.
func (p *pipeline) chooseLambdas(taus [][]float32, alpha float64) ([]float64, error) {
	if alpha == 0 {
		alpha = 1
	}
	mtl := make([]float32, len(p.baseW))
	for _, tau := range taus {
		for i, v := range tau {
			mtl[i] += v
		}
	}
	w := make([]float32, len(mtl))
	out := make([]float64, len(taus))
	for t, tau := range taus {
		best := -1.0
		for _, l := range []float64{0.2, 0.3, 0.4, 0.5, 0.6} {
			for i := range w {
				w[i] = p.baseW[i]
				if math.Abs(float64(tau[i])) > l*math.Abs(float64(mtl[i]-tau[i])) {
					w[i] += float32(alpha) * mtl[i]
				}
			}
			if err := p.ev.load(w); err != nil {
				return nil, err
			}
			m, err := p.ev.taskMetrics(t, p.tasks[t].Val)
			if err != nil {
				return nil, err
			}
			if m.Accuracy > best {
				best, out[t] = m.Accuracy, l
			}
		}
	}
	return out, nil
}

// readWeights loads a checkpoint's encoder as a flat host vector.
func (p *pipeline) readWeights(path string) ([]float32, error) {
	ck, err := checkpoint.Open(path)
	if err != nil {
		return nil, err
	}
	defer ck.Close()
	q, err := model.LoadNamed(p.e, ck, p.enc.Layout(), p.naming)
	if err != nil {
		return nil, err
	}
	defer q.Free(p.e)
	return ffi.ReadF32(p.e, q.All())
}

func sub(a, b []float32) []float32 {
	out := make([]float32, len(a))
	for i := range a {
		out[i] = a[i] - b[i]
	}
	return out
}
