package demo

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/distac/data"
	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/distac/train"
	"github.com/distac/distac/ffi"
)

// columns assembles the five columns of the table, conditioning as needed.
func (p *pipeline) columns(ft map[string][]*ftModel) ([]*column, error) {
	mismatch := make([]*ftModel, len(p.tasks))
	for t := range p.tasks {
		mismatch[t] = ft[regimeIdeal][t]
		if t < p.r.Mismatch.Boosted {
			mismatch[t] = ft[regimeBoosted][t]
		}
	}
	fixedNorm, err := p.condition("mismatch", mismatch, p.r.DisTaC.Norm)
	if err != nil {
		return nil, fmt.Errorf("DisTaC (norm): %w", err)
	}
	fixedConf, err := p.condition("lowconf", ft[regimeLowConf], p.r.DisTaC.Conf)
	if err != nil {
		return nil, fmt.Errorf("DisTaC (confidence): %w", err)
	}
	mk := func(name string, ms, normBy []*ftModel) *column {
		c := &column{Name: name, models: ms}
		for t, m := range ms {
			c.Tasks = append(c.Tasks, m.Path)
			c.Finetune = append(c.Finetune, normBy[t].TestAcc)
		}
		return c
	}
	// +DisTaC columns are normalised by the fine-tuned models they started
	// from, so a column's drop and its recovery are measured against the
	// same accuracies.
	return []*column{
		mk(ColIdeal, ft[regimeIdeal], ft[regimeIdeal]),
		mk(ColMismatch, mismatch, mismatch),
		mk(ColMismatchDisTaC, fixedNorm, mismatch),
		mk(ColLowConf, ft[regimeLowConf], ft[regimeLowConf]),
		mk(ColLowConfDisTaC, fixedConf, ft[regimeLowConf]),
	}, nil
}

// Column names, in the table's order.
const (
	ColIdeal          = "ideal"
	ColMismatch       = "norm mismatch"
	ColMismatchDisTaC = "norm mismatch + DisTaC"
	ColLowConf        = "low confidence"
	ColLowConfDisTaC  = "low confidence + DisTaC"
)

// condition runs DisTaC on a column's models (all tasks in parallel).
func (p *pipeline) condition(name string, teachers []*ftModel, fix DisTaCFix) ([]*ftModel, error) {
	d := p.r.DisTaC
	var keys []string
	for _, m := range teachers {
		keys = append(keys, m.Key)
	}
	out := make([]*ftModel, len(teachers))
	var todo []int
	for t := range teachers {
		// Kappa depends on every teacher's norm: the key holds them all.
		// v4: every task's batch order comes from the seed alone.
		parts := []any{"distac/v4", p.baseKey, keys, t, d.Steps, d.Batch, fix, p.o.Seed}
		if d.Precision != "" && d.Precision != model.F32 { // f32 keeps the keys it always had
			parts = append(parts, d.Precision)
		}
		a := p.artifact("distac-"+p.tasks[t].Name+"-"+name, ".safetensors", parts...)
		out[t] = &ftModel{Path: a.Path, Key: a.Key}
		if !a.exists() {
			todo = append(todo, t)
		}
	}
	if len(todo) > 0 {
		if err := p.runDisTaC(name, teachers, out, fix); err != nil {
			return nil, err
		}
	}
	for t, m := range out {
		if err := p.summarize(m, t); err != nil {
			return nil, err
		}
		k, err := p.readKappa(m.Path)
		if err != nil {
			return nil, err
		}
		m.Kappa = k
	}
	return out, nil
}

func (p *pipeline) runDisTaC(name string, teachers, out []*ftModel, fix DisTaCFix) error {
	d := p.r.DisTaC
	ts := make([]train.Task, len(teachers))
	for t, m := range teachers {
		w, err := p.readWeights(m.Path)
		if err != nil {
			return err
		}
		q, err := model.NewParams(p.e, p.enc.Layout())
		if err != nil {
			return err
		}
		defer q.Free(p.e)
		if err := p.e.Upload(q.All(), ffi.F32Bytes(w)); err != nil {
			return err
		}
		unl := &data.Set{Name: p.tasks[t].Name, C: p.tasks[t].Train.C, H: p.tasks[t].Train.H, W: p.tasks[t].Train.W, Images: p.tasks[t].Train.Images}
		ts[t] = train.Task{Name: p.tasks[t].Name, Params: q, Head: p.heads[t], Inputs: unl}
	}
	o := train.DefaultConditionOptions()
	o.TTcr, o.TStu, o.Anchor, o.LR, o.Kappa = fix.TTcr, fix.TStu, fix.Beta, fix.LR, fix.Kappa
	o.Steps, o.Batch, o.Seed = d.Steps, d.Batch, p.o.Seed
	if d.Precision != "" {
		o.Precision = d.Precision
	}
	o.NewEngine = p.engine
	prog := make([]func(int, int, float64), len(ts))
	for t := range ts {
		prog[t] = p.progress(fmt.Sprintf("DisTaC %s/%s", p.tasks[t].Name, name))
	}
	o.Progress = func(c train.ConditionProgress) { prog[c.Task](c.Step, c.Steps, c.Loss) }
	p.logf("DisTaC on %s: %d tasks, %d steps, (T_tcr, T_stu) = (%g, %g), beta %g, %s", name, len(ts), d.Steps, fix.TTcr, fix.TStu, fix.Beta, o.Precision)
	res, err := train.Condition(context.Background(), p.enc, p.base, ts, o)
	if err != nil {
		return err
	}
	for t, r := range res {
		err := p.save(p.e, r.Params, out[t].Path, map[string]string{"distac.demo": fmt.Sprintf("DisTaC %s %s", name, p.tasks[t].Name),
			kappaKey: strconv.FormatFloat(r.Kappa, 'g', -1, 64)})
		r.Params.Free(p.e)
		if err != nil {
			return err
		}
	}
	return nil
}

// kappaKey records a conditioned model's kappa in its metadata.
const kappaKey = "distac.kappa"

// readKappa is the kappa a conditioned checkpoint was made with.
func (p *pipeline) readKappa(path string) (float64, error) {
	ck, err := checkpoint.Open(path)
	if err != nil {
		return 0, err
	}
	defer ck.Close()
	k, err := strconv.ParseFloat(ck.Files[0].Metadata[kappaKey], 64)
	if err != nil {
		return 0, fmt.Errorf("%s: no kappa in the metadata: %w", path, err)
	}
	return k, nil
}

// cachedMerge merges a column with every method, or reuses the results.
func (p *pipeline) cachedMerge(c *column) ([]*MethodResult, error) {
	var keys []string
	for _, m := range c.models {
		keys = append(keys, m.Key)
	}
	a := p.artifact("merge-"+slug(c.Name), ".json", "merge/v1", p.baseKey, keys, p.r.Splits, demoMethods, p.o.Seed)
	var rs []*MethodResult
	if a.readJSON(&rs) && len(rs) == len(demoMethods) {
		return rs, nil
	}
	rs, err := p.mergeColumn(c)
	if err != nil {
		return nil, err
	}
	return rs, a.writeJSON(rs)
}

func slug(s string) string {
	out := []byte{}
	for _, c := range []byte(strings.ToLower(s)) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			out = append(out, c)
		case len(out) > 0 && out[len(out)-1] != '-':
			out = append(out, '-')
		}
	}
	return string(out)
}
