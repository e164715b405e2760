package merge

import (
	"fmt"
	"slices"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/ffi"
	"github.com/distac/distac/internal/errmark"
)

// Mismatch policies (Options.Mismatch) for a tensor some tasks lack, or
// hold in another shape, than the base (a classification head, a
// vocabulary grown by a few rows):
const (
	// MismatchError stops the merge, naming the tensor (the default).
	MismatchError = "error"
	// MismatchBase takes the base's tensor as it is; a tensor only tasks
	// have is left out (the output has the base's architecture).
	MismatchBase = "base"
	// MismatchCommon merges the leading rows every model has (the prefix
	// of the leading dimension, other dimensions equal) and takes the
	// base's other rows; a tensor only tasks have comes from the first task
	// that has it. Anything else is taken from the base, as MismatchBase.
	MismatchCommon = "common"
)

// MismatchPolicies lists the policies.
var MismatchPolicies = []string{MismatchError, MismatchBase, MismatchCommon}

// tensorMismatch is the first way a task's tensor bt differs from the
// base's (nil: none), as the error the default policy gives.
func tensorMismatch(bt *checkpoint.Tensor, base *checkpoint.Checkpoint, tasks []*checkpoint.Checkpoint) error {
	for _, tc := range tasks {
		tt, ok := tc.Tensor(bt.Name)
		switch {
		case !ok:
			return errmark.As(ErrMismatch, fmt.Errorf("task %s: tensor %q is missing (it is in the base %s)", tc.Path, bt.Name, base.Path))
		case tt.DType != bt.DType:
			return errmark.As(ErrMismatch, fmt.Errorf("task %s: tensor %q has dtype %s, the base %s has %s", tc.Path, bt.Name, tt.DType, base.Path, bt.DType))
		case !sameShape(tt.Shape, bt.Shape):
			return errmark.As(ErrMismatch, fmt.Errorf("task %s: tensor %q has shape %v, the base %s has %v", tc.Path, bt.Name, tt.Shape, base.Path, bt.Shape))
		}
	}
	return nil
}

// checkPolicy resolves Options.Mismatch ("" is MismatchError).
func checkPolicy(p string) (string, error) {
	if p == "" {
		return MismatchError, nil
	}
	if !slices.Contains(MismatchPolicies, p) {
		return "", fmt.Errorf("mismatch policy %q (want %v)", p, MismatchPolicies)
	}
	return p, nil
}

// planMismatch plans base tensor it.base, which some task lacks or holds
// otherwise (bad says how), under m's policy, appending its items and its
// output tensor; each case is noted (Report.Mismatches).
func (m *merger) planMismatch(it *item, bad error, outs *[]checkpoint.OutTensor) error {
	bt := it.base
	if m.mismatch == MismatchError {
		return bad
	}
	*outs = append(*outs, checkpoint.OutTensor{Name: bt.Name, DType: it.outDT, Shape: bt.Shape})
	c := 0
	if m.mismatch == MismatchCommon && it.kind != kindCarry {
		c = m.commonRows(bt)
	}
	if c == 0 {
		it.kind = kindBase
		m.items = append(m.items, it)
		m.notes = append(m.notes, fmt.Sprintf("tensor %q: taken from the base (%v)", bt.Name, bad))
		return nil
	}
	head, err := bt.Rows(0, c)
	if err != nil {
		return err
	}
	it.base = head
	if it.kind == kindMatrix && !isMatrixWeight(head) {
		it.kind = kindElem
	}
	for _, tc := range m.tasks {
		tt, _ := tc.Tensor(bt.Name)
		v, err := tt.Rows(0, c)
		if err != nil {
			return err
		}
		it.tasks = append(it.tasks, v)
	}
	m.items = append(m.items, it)
	note := fmt.Sprintf("tensor %q: rows [0, %d) merged", bt.Name, c)
	if rows := int(bt.Shape[0]); c < rows {
		tail, err := bt.Rows(c, rows)
		if err != nil {
			return err
		}
		m.items = append(m.items, &item{kind: kindBase, idx: len(m.items), base: tail, out: it.out, outDT: it.outDT,
			outOff: int64(head.Numel)})
		note += fmt.Sprintf(", rows [%d, %d) from the base", c, rows)
	}
	m.notes = append(m.notes, note+fmt.Sprintf(" (%v)", bad))
	return nil
}

// commonRows is the number of leading rows every task shares with the base
// tensor bt: the least leading dimension, when every task has bt with its
// dtype, rank and trailing dimensions; 0 otherwise.
func (m *merger) commonRows(bt *checkpoint.Tensor) int {
	if len(bt.Shape) == 0 {
		return 0
	}
	c := bt.Shape[0]
	for _, tc := range m.tasks {
		tt, ok := tc.Tensor(bt.Name)
		if !ok || tt.DType != bt.DType || len(tt.Shape) != len(bt.Shape) || !sameShape(tt.Shape[1:], bt.Shape[1:]) {
			return 0
		}
		c = min(c, tt.Shape[0])
	}
	return int(c)
}

// planTaskOnly plans the tensors tasks have and the base lacks: an error,
// left out (MismatchBase), or copied from the first task that has one
// (MismatchCommon).
func (m *merger) planTaskOnly(outs *[]checkpoint.OutTensor, outDT checkpoint.DType, keep bool) error {
	taken := map[string]bool{}
	for _, tc := range m.tasks {
		for _, tt := range tc.Tensors {
			if _, ok := m.base.Tensor(tt.Name); ok || taken[tt.Name] {
				continue
			}
			taken[tt.Name] = true
			switch m.mismatch {
			case MismatchError:
				return errmark.As(ErrMismatch, fmt.Errorf("task %s: tensor %q is not in the base %s", tc.Path, tt.Name, m.base.Path))
			case MismatchBase:
				m.notes = append(m.notes, fmt.Sprintf("tensor %q: not in the base; left out (it is in task %s)", tt.Name, tc.Path))
				continue
			}
			dt := tt.DType
			if !keep && checkpoint.IsComputeFloat(dt) {
				dt = outDT
			}
			if !checkpoint.IsComputeFloat(tt.DType) && !checkpoint.IsCarried(tt.DType) {
				return errmark.As(ErrMismatch, fmt.Errorf("task %s: tensor %q has dtype %s", tc.Path, tt.Name, tt.DType))
			}
			m.items = append(m.items, &item{kind: kindBase, idx: len(m.items), base: tt, out: len(*outs), outDT: dt})
			*outs = append(*outs, checkpoint.OutTensor{Name: tt.Name, DType: dt, Shape: tt.Shape})
			m.notes = append(m.notes, fmt.Sprintf("tensor %q: not in the base; taken from task %s", tt.Name, tc.Path))
		}
	}
	return nil
}

// copyTensor writes elements [lo, hi) of a kindBase item's tensor into its
// output rows, converted to the output dtype on the host (a copy: no
// arithmetic, so any backend gives the same bits).
func (wk *worker) copyTensor(p *pass, j job) error {
	it := j.it
	src := it.base
	off := (it.outOff + int64(j.lo)) * int64(it.outDT.Size())
	err := src.View(j.lo, j.hi, func(b []byte) error {
		if src.DType == it.outDT {
			return wk.m.w.WriteAt(it.out, off, b)
		}
		xs, err := checkpoint.DecodeFloats(src.DType, b)
		if err != nil {
			return err
		}
		return wk.m.w.WriteAt(it.out, off, ffi.EncodeFloats(xs, checkpoint.ComputeType(it.outDT)))
	})
	p.pages.Consumed(src, j.lo, j.hi)
	if err != nil {
		return fmt.Errorf("tensor %q: %w", src.Name, err)
	}
	return nil
}
