package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progress reports long work on stderr, one line per task. On a terminal
// the lines are redrawn in place (at most five times a second); in a log
// (stderr not a terminal) a task prints a line as it passes each tenth of
// its work, and every task at least once a minute, so a batch log shows a
// long run moving. Each line gives the elapsed time and the time left at
// the rate so far: honest when the units of work take equal time, which is
// why merge and diagnose count work (bytes, and an SVD's flops), and
// training counts steps.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	term     bool
	desc     string // the command, at the start of a log line
	unit     string // "step" counts units; "" shows a percentage
	tasks    []progressTask
	width    int // of the task names, for the terminal's columns
	drawn    int // lines drawn on the terminal so far
	lastDraw time.Time
	lastLog  time.Time
	created  time.Time
	now      func() time.Time // tests
}

type progressTask struct {
	name        string
	done, total int64
	note        string    // e.g. the last loss
	first       time.Time // of the first report, when firstDone was done
	firstDone   int64
	nextTenth   int64
}

// progressEvery is how often a log shows each task at the least.
const progressEvery = time.Minute

// newProgress reports on the named tasks (nil when quiet: its methods do
// nothing). unit is "step" for counted work, "" for a percentage.
func newProgress(desc, unit string, names []string, quiet bool) *progress {
	if quiet {
		return nil
	}
	p := &progress{w: os.Stderr, term: isTerminal(os.Stderr), desc: desc, unit: unit, now: time.Now}
	p.created = p.now()
	p.lastLog = p.created
	for _, n := range names {
		p.tasks = append(p.tasks, progressTask{name: n})
		p.width = max(p.width, len(n))
	}
	return p
}

// set records task i's progress: done of total, and a note (or "").
func (p *progress) set(i int, done, total int64, note string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	t := &p.tasks[i]
	if done < t.done { // reports from several goroutines may cross
		return
	}
	if t.first.IsZero() {
		t.first, t.firstDone = now, done
	}
	t.done, t.total, t.note = done, total, note
	if p.term {
		if now.Sub(p.lastDraw) >= 200*time.Millisecond || done == total {
			p.draw()
			p.lastDraw = now
		}
		return
	}
	printed := false
	if total > 0 && done*10 >= t.nextTenth*total {
		fmt.Fprintln(p.w, p.line(t, now, false))
		for done*10 >= t.nextTenth*total {
			t.nextTenth++
		}
		printed = true
	}
	if now.Sub(p.lastLog) >= progressEvery {
		for k := range p.tasks {
			o := &p.tasks[k]
			if (k != i || !printed) && o.total > 0 && o.done < o.total {
				fmt.Fprintln(p.w, p.line(o, now, false))
			}
		}
		p.lastLog = now
	}
}

// finish draws the final state on a terminal.
func (p *progress) finish() {
	if p == nil || !p.term {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw()
}

// draw rewrites the task lines in place: up to the first, then each line
// cleared and written.
func (p *progress) draw() {
	if p.drawn > 0 {
		fmt.Fprintf(p.w, "\x1b[%dF", p.drawn)
	}
	now := p.now()
	for k := range p.tasks {
		fmt.Fprintf(p.w, "\x1b[2K%s\n", p.line(&p.tasks[k], now, true))
	}
	p.drawn = len(p.tasks)
}

// line is one task's state: on a terminal with a bar, in a log with the
// command's name first.
func (p *progress) line(t *progressTask, now time.Time, bar bool) string {
	var b strings.Builder
	if bar {
		fmt.Fprintf(&b, "%-*s ", p.width, t.name)
	} else if t.name == p.desc {
		fmt.Fprintf(&b, "%s: ", p.desc)
	} else {
		fmt.Fprintf(&b, "%s %s: ", p.desc, t.name)
	}
	frac := 0.0
	if t.total > 0 {
		frac = float64(t.done) / float64(t.total)
	}
	if bar {
		const w = 24
		n := int(frac * w)
		fmt.Fprintf(&b, "[%s%s] ", strings.Repeat("=", n), strings.Repeat(" ", w-n))
	}
	if p.unit != "" {
		fmt.Fprintf(&b, "%s %d/%d (%.0f%%)", p.unit, t.done, t.total, 100*frac)
	} else {
		fmt.Fprintf(&b, "%.0f%%", 100*frac)
	}
	if t.note != "" {
		b.WriteString(", " + t.note)
	}
	fmt.Fprintf(&b, ", %s", roundDuration(now.Sub(p.created)))
	// The rate since the task's first report: it leaves out start-up and
	// a wait for a free slot (--parallel-tasks).
	if t.done > t.firstDone && t.done < t.total {
		rate := float64(now.Sub(t.first)) / float64(t.done-t.firstDone)
		fmt.Fprintf(&b, ", about %s left", roundDuration(time.Duration(rate*float64(t.total-t.done))))
	}
	return b.String()
}

// roundDuration is d to a second (a tenth below ten seconds).
func roundDuration(d time.Duration) time.Duration {
	if d < 10*time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}

// workFn is a merge or diagnose progress callback reporting as task 0.
func (p *progress) workFn() func(done, total int64) {
	if p == nil {
		return nil
	}
	return func(done, total int64) { p.set(0, done, total, "") }
}

// stepBar is a progress of one task counted in steps, with the loss.
type stepBar struct {
	p     *progress
	mu    sync.Mutex
	done  int
	total int
}

func newStepBar(desc string, total int, quiet bool) *stepBar {
	return &stepBar{p: newProgress(desc, "step", []string{desc}, quiet), total: total}
}

// step records one finished step and its loss.
func (s *stepBar) step(loss float64) {
	s.mu.Lock()
	s.done++
	d := s.done
	s.mu.Unlock()
	note := ""
	if loss != 0 {
		note = fmt.Sprintf("loss %.4g", loss)
	}
	s.p.set(0, int64(d), int64(s.total), note)
}

func (s *stepBar) finish() { s.p.finish() }
