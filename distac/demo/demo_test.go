package demo

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distac/distac/distac/data"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestQuickRunAndCache runs the whole pipeline at the quick recipe's sizes
// on the two small sets, then again: the second run must reuse every
// model (and be much faster) and give the same results.
func TestQuickRunAndCache(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo pipeline twice (tens of seconds)")
	}
	dir := t.TempDir()
	o := Options{Workdir: dir, Seed: 3, Tasks: []string{"opencv-digits", "sklearn-digits"}, Recipe: QuickRecipe()}
	var log bytes.Buffer
	o.Log = &log
	start := time.Now()
	r1, err := Run(o)
	if errors.Is(err, data.ErrNotInstalled) {
		t.Skipf("data sets missing: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	cold := time.Since(start)
	if len(r1.Columns) != 5 {
		t.Fatalf("%d columns, want 5", len(r1.Columns))
	}
	for _, c := range r1.Columns {
		if len(c.Methods) != len(demoMethods) || len(c.Models) != 2 {
			t.Fatalf("column %s: %d methods, %d models", c.Name, len(c.Methods), len(c.Models))
		}
		for _, m := range c.Methods {
			if !(m.MeanAcc > 0 && m.MeanAcc <= 1) || !(m.Alpha >= 0 && m.Alpha <= 1) || len(m.TestAcc) != 2 {
				t.Errorf("%s %s: accuracy %v, alpha %v", c.Name, m.Method, m.MeanAcc, m.Alpha)
			}
		}
	}
	if c := r1.Column(ColMismatch); c.Models[0].Norm <= c.Models[1].Norm {
		t.Errorf("the boosted task's norm %.3g is not above the other's %.3g", c.Models[0].Norm, c.Models[1].Norm)
	}
	if c := r1.Column(ColMismatchDisTaC); !(c.Models[0].Kappa < 1) || c.Models[1].Kappa != 1 {
		t.Errorf("DisTaC kappas %v, %v: want the long task shrunk and the short one left at 1", c.Models[0].Kappa, c.Models[1].Kappa)
	}
	for _, f := range []string{"results.json", "report.html"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Fatalf("%s not written: %v", f, err)
		}
	}
	var table bytes.Buffer
	r1.WriteTable(&table)
	for _, want := range []string{"TSV-M", "Iso-C", ColLowConfDisTaC, "zero-shot"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}

	log.Reset()
	start = time.Now()
	r2, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	warm := time.Since(start)
	if strings.Contains(log.String(), "fine-tuning") || strings.Contains(log.String(), "pre-training") || strings.Contains(log.String(), "DisTaC on") {
		t.Errorf("the second run trained again:\n%s", log.String())
	}
	if warm > cold/2 {
		t.Errorf("warm run took %v, cold %v: the cache is not used", warm, cold)
	}
	if d := cmp.Diff(r1.Columns, r2.Columns, cmpopts.EquateNaNs()); d != "" {
		t.Errorf("the cached run's results differ from the first run's (-first +cached):\n%s", d)
	}
	t.Logf("cold %v, warm %v", cold, warm)
}

func TestOptionErrors(t *testing.T) {
	if _, err := Run(Options{}); err == nil || !strings.Contains(err.Error(), "work directory") {
		t.Errorf("no workdir: %v", err)
	}
	if _, err := Run(Options{Workdir: t.TempDir(), Tasks: []string{"mnist"}}); err == nil || !strings.Contains(err.Error(), "two tasks") {
		t.Errorf("one task: %v", err)
	}
	if _, err := Run(Options{Workdir: t.TempDir(), Tasks: []string{"mnist", "nope"}, Recipe: QuickRecipe()}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown task: %v", err)
	}
}
