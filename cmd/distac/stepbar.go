package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// stepBar shows training progress: a bar with the current loss on a
// terminal, else a line every tenth of the run, so logs show progress too.
type stepBar struct {
	mu    sync.Mutex
	bar   *progressbar.ProgressBar
	w     io.Writer
	desc  string
	total int
	done  int
	next  int
	start time.Time
}

func newStepBar(desc string, total int, quiet bool) *stepBar {
	if quiet {
		return nil
	}
	s := &stepBar{w: os.Stderr, desc: desc, total: total, next: max(1, total/10), start: time.Now()}
	if isTerminal(os.Stderr) {
		s.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("step"),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return s
}

// step records one finished step and its loss.
func (s *stepBar) step(loss float64) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done++
	if s.bar != nil {
		s.bar.Describe(fmt.Sprintf("%s loss %.4g", s.desc, loss))
		_ = s.bar.Add(1)
		return
	}
	if s.done >= s.next || s.done == s.total {
		fmt.Fprintf(s.w, "%s: step %d/%d loss %.4g (%.1f s)\n", s.desc, s.done, s.total, loss, time.Since(s.start).Seconds())
		s.next += max(1, s.total/10)
	}
}

func (s *stepBar) finish() {
	if s == nil || s.bar == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.bar.Finish()
}
