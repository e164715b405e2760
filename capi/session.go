package main

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/distac/merge"
)

// An in-memory merge (distac_merge_begin / _add / _finish): the tensors the
// host added, referenced in place, merged by merge.RunMemory into the
// host's output buffers. Merges are named by ids that are never reused, so
// a stale id is an error, never another merge.

// memMerge is one in-memory merge.
type memMerge struct {
	mu      sync.Mutex // serialises the calls on this merge
	opts    merge.Options
	base    []checkpoint.MemTensor
	tasks   [][]checkpoint.MemTensor // per task
	out     map[string][]byte
	outDT   checkpoint.DType
	keepDT  bool // each tensor's output dtype is its own
	running bool
	// ctx is cancelled by distac_merge_cancel, before or during finish.
	ctx    context.Context
	cancel context.CancelFunc
}

// merges holds the open in-memory merges by id.
var merges = struct {
	sync.Mutex
	last uint64
	byID map[uint64]*memMerge
}{byID: map[uint64]*memMerge{}}

// lookupMerge returns the merge of id.
func lookupMerge(id uint64) (*memMerge, error) {
	merges.Lock()
	defer merges.Unlock()
	m, ok := merges.byID[id]
	if !ok {
		return nil, argument(fmt.Errorf("no in-memory merge %d (never begun, or already finished or aborted)", id))
	}
	return m, nil
}

// dropMerge forgets id.
func dropMerge(id uint64) {
	merges.Lock()
	delete(merges.byID, id)
	merges.Unlock()
}

// filesOnly refuses the config keys that name files, which a merge in
// memory has none of.
func filesOnly(c *merge.Config) error {
	if c.Base != "" || len(c.Tasks) > 0 || c.Out != "" || c.ShardSize != "" || c.Force != nil {
		return errors.New("a merge in memory takes its tensors from distac_merge_add: base, tasks, out, shard_size and force do not apply")
	}
	return nil
}

// beginMerge is distac_merge_begin: the merge config's keys that are not
// files, checked against numTasks now.
func beginMerge(config string, numTasks int) (uint64, error) {
	if numTasks < 1 {
		return 0, argument(fmt.Errorf("%d tasks: a merge needs at least one", numTasks))
	}
	c, err := merge.ParseConfig([]byte(config), "")
	if err != nil {
		return 0, argument(fmt.Errorf("config: %w", err))
	}
	if err := filesOnly(c); err != nil {
		return 0, argument(fmt.Errorf("config: %w", err))
	}
	o, notes, err := merge.OptionsFromConfig(c)
	printNotes("merge", notes)
	if err != nil {
		return 0, argument(fmt.Errorf("config: %w", err))
	}
	method, err := merge.Lookup(o.Method)
	if err != nil {
		return 0, argument(fmt.Errorf("config: %w", err))
	}
	if _, err := method.Resolve(o.Params, numTasks); err != nil {
		return 0, argument(fmt.Errorf("config: %w", err))
	}
	outDT, keep, err := checkpoint.ParseOutDType(o.OutDType)
	if err != nil {
		return 0, argument(fmt.Errorf("config: %w", err))
	}
	m := &memMerge{opts: o, tasks: make([][]checkpoint.MemTensor, numTasks), out: map[string][]byte{}, outDT: outDT, keepDT: keep}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	merges.Lock()
	defer merges.Unlock()
	merges.last++
	merges.byID[merges.last] = m
	return merges.last, nil
}

// memTensor is one tensor of distac_merge_add: its buffers as byte slices
// over the caller's memory (tasks one per task).
type memTensor struct {
	name  string
	dtype checkpoint.DType
	shape []uint64
	base  []byte
	tasks [][]byte
	out   []byte
}

// addTensor is distac_merge_add, once the boundary has made slices of the
// buffers (out sized by outBytes).
func addTensor(id uint64, t memTensor) error {
	m, err := lookupMerge(id)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.running:
		return argument(errors.New("the merge is running: add every tensor before distac_merge_finish"))
	case t.name == "":
		return argument(errors.New("a tensor needs a name"))
	case m.added(t.name):
		return argument(fmt.Errorf("tensor %q is added twice", t.name))
	case len(t.tasks) != len(m.tasks):
		return argument(fmt.Errorf("tensor %q: %d task buffers for a merge of %d tasks", t.name, len(t.tasks), len(m.tasks)))
	}
	if want := outBytes(t, m); len(t.out) != want {
		return argument(fmt.Errorf("tensor %q: an output buffer of %d bytes, want %d", t.name, len(t.out), want))
	}
	m.base = append(m.base, checkpoint.MemTensor{Name: t.name, DType: t.dtype, Shape: t.shape, Data: t.base})
	for i, b := range t.tasks {
		m.tasks[i] = append(m.tasks[i], checkpoint.MemTensor{Name: t.name, DType: t.dtype, Shape: t.shape, Data: b})
	}
	m.out[t.name] = t.out
	return nil
}

// added reports whether a tensor of that name was added.
func (m *memMerge) added(name string) bool {
	_, ok := m.out[name]
	return ok
}

// outBytes is the size of t's output in the merge's output dtype.
func outBytes(t memTensor, m *memMerge) int {
	dt := t.dtype
	if !m.keepDT {
		dt = m.outDT
	}
	n, _ := checkpoint.NumElements(t.shape) // checked by the boundary
	return int(n * dt.Size())
}

// finishMerge is distac_merge_finish: it runs the merge and ends it.
// progress (may be nil) gets the work done and total; true from it cancels.
func finishMerge(id uint64, progress func(done, total int64) bool) ([]byte, error) {
	m, err := lookupMerge(id)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		return nil, argument(errors.New("the merge is already running"))
	}
	m.running = true
	m.mu.Unlock()
	defer func() {
		dropMerge(id)
		m.cancel()
	}()
	if len(m.base) == 0 {
		return nil, argument(errors.New("no tensors: add them with distac_merge_add first"))
	}
	base, err := checkpoint.FromMemory("memory:base", m.base)
	if err != nil {
		return nil, err
	}
	tasks := make([]*checkpoint.Checkpoint, len(m.tasks))
	for i, ts := range m.tasks {
		if tasks[i], err = checkpoint.FromMemory(fmt.Sprintf("memory:task%d", i), ts); err != nil {
			return nil, err
		}
	}
	o := m.opts
	if progress != nil {
		var mu sync.Mutex // the host's callback never runs twice at once
		o.Progress = func(done, total int64) {
			mu.Lock()
			defer mu.Unlock()
			if progress(done, total) {
				m.cancel()
			}
		}
	}
	rep, err := merge.RunMemory(m.ctx, o, base, tasks, m.out)
	if err != nil {
		return nil, err
	}
	o.Base, o.Tasks = base.Path, nil
	for _, t := range tasks {
		o.Tasks = append(o.Tasks, t.Path)
	}
	return jsonText(rep.Summary(&o))
}

// cancelMerge is distac_merge_cancel.
func cancelMerge(id uint64) error {
	m, err := lookupMerge(id)
	if err != nil {
		return err
	}
	m.cancel()
	return nil
}

// abortMerge is distac_merge_abort: it forgets a merge that is not running.
func abortMerge(id uint64) {
	m, err := lookupMerge(id)
	if err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.running {
		dropMerge(id)
		m.cancel()
	}
}
