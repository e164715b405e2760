package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// fakeProgress is a progress on a buffer with a clock the test moves.
func fakeProgress(term bool, names ...string) (*progress, *bytes.Buffer, *time.Time) {
	var buf bytes.Buffer
	clock := time.Unix(0, 0)
	p := newProgress("condition", "step", names, false)
	p.w, p.term, p.now = &buf, term, func() time.Time { return clock }
	p.lastLog, p.created = clock, clock
	return p, &buf, &clock
}

// In a log, a task prints a line at each tenth of its work, named, with an
// estimate of the time left at the rate so far.
func TestProgressLogLines(t *testing.T) {
	p, buf, clock := fakeProgress(false, "mnist", "fashion")
	for s := int64(1); s <= 100; s++ {
		*clock = clock.Add(time.Second)
		p.set(0, s, 100, "KL 0.1")
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 11 { // step 1, then 10%, 20%, ..., 100%
		t.Fatalf("%d lines, want 11:\n%s", len(lines), buf.String())
	}
	if want := "condition mnist: step 50/100 (50%), KL 0.1, 50s, about 50s left"; lines[5] != want {
		t.Errorf("line at half way:\n got %q\nwant %q", lines[5], want)
	}
	if strings.Contains(buf.String(), "fashion") {
		t.Errorf("a task that never reported printed:\n%s", buf.String())
	}
}

// A slow task still shows in a log at least once a minute.
func TestProgressLogEveryMinute(t *testing.T) {
	p, buf, clock := fakeProgress(false, "a", "b")
	p.set(1, 1, 1000, "")
	buf.Reset()
	for s := int64(1); s <= 5; s++ {
		*clock = clock.Add(30 * time.Second)
		p.set(0, s, 1000, "")
	}
	if n := strings.Count(buf.String(), "condition b: step 1/1000"); n != 2 {
		t.Errorf("task b shown %d times in 150 s, want 2:\n%s", n, buf.String())
	}
}

// On a terminal every task has its own line, redrawn in place.
func TestProgressTerminalLines(t *testing.T) {
	p, buf, clock := fakeProgress(true, "mnist", "sklearn-digits")
	p.set(0, 1, 10, "")
	*clock = clock.Add(time.Second)
	p.set(1, 5, 10, "")
	out := buf.String()
	if strings.Count(out, "\x1b[2K") != 4 || !strings.Contains(out, "\x1b[2F") {
		t.Fatalf("want two lines drawn twice, the second time from two lines up: %q", out)
	}
	if !strings.Contains(out, "sklearn-digits [============            ] step 5/10 (50%)") {
		t.Errorf("line of the second task: %q", out)
	}
}
