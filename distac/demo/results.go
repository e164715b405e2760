package demo

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Results is everything a run measured; results.json holds it.
type Results struct {
	Date     string         `json:"date"`
	Machine  string         `json:"machine"`
	Seed     uint64         `json:"seed"`
	Tasks    []string       `json:"tasks"`
	Recipe   Recipe         `json:"recipe"`
	ZeroShot []float64      `json:"zero_shot_accuracy"` // the base under each head
	Columns  []ColumnResult `json:"columns"`
	Elapsed  float64        `json:"elapsed_seconds"`
}

// ColumnResult is one column of the table: its models and every merge.
type ColumnResult struct {
	Name      string          `json:"name"`
	Finetuned []float64       `json:"normalized_by"` // test accuracies the column is normalised by
	Models    []*ftModel      `json:"models"`
	Methods   []*MethodResult `json:"methods"`
}

// ModelSummary describes one task model of a column.
type ModelSummary struct {
	Task       string  `json:"task"`
	Norm       float64 `json:"norm"` // ||theta_t - theta_0||
	Kappa      float64 `json:"kappa,omitempty"`
	TestAcc    float64 `json:"test_accuracy"`
	Entropy    float64 `json:"mean_entropy"`
	Confidence float64 `json:"mean_confidence"`
}

// Column returns the named column, or nil.
func (r *Results) Column(name string) *ColumnResult {
	for i := range r.Columns {
		if r.Columns[i].Name == name {
			return &r.Columns[i]
		}
	}
	return nil
}

// Method returns the method's result in the column, or nil.
func (c *ColumnResult) Method(m string) *MethodResult {
	for _, r := range c.Methods {
		if r.Method == m {
			return r
		}
	}
	return nil
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				if _, v, ok := strings.Cut(l, ":"); ok {
					cpu = strings.TrimSpace(v)
				}
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d CPUs, %s/%s", cpu, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
}

func summarizeMethods(rs []*MethodResult) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%s %.1f%% (norm %.1f%%, alpha %.2f)", r.Method, 100*r.MeanAcc, 100*r.MeanNorm, r.Alpha))
	}
	return strings.Join(parts, "; ")
}

// WriteTable prints the paper-style table: rows are methods, columns the
// regimes, each cell absolute / normalized mean accuracy in percent.
func (r *Results) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "\nMerged accuracy over %d tasks (%s), %%: absolute (normalized)\n", len(r.Tasks), strings.Join(r.Tasks, ", "))
	fmt.Fprintf(w, "%-10s", "method")
	for _, c := range r.Columns {
		fmt.Fprintf(w, " | %-24s", c.Name)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, strings.Repeat("-", 10+27*len(r.Columns)))
	for _, m := range demoMethods {
		fmt.Fprintf(w, "%-10s", methodLabel(m))
		for _, c := range r.Columns {
			if mr := c.Method(m); mr != nil {
				fmt.Fprintf(w, " | %-24s", fmt.Sprintf("%5.1f (%5.1f)", 100*mr.MeanAcc, 100*mr.MeanNorm))
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\n%-24s %8s %s\n", "models (test acc %)", "", strings.Join(r.Tasks, " / "))
	fmt.Fprintf(w, "%-24s %8s %s\n", "zero-shot (base)", "", pcts(r.ZeroShot))
	for _, c := range r.Columns {
		var acc, norms, conf []float64
		for _, m := range c.Models {
			acc, norms, conf = append(acc, m.TestAcc), append(norms, m.Norm), append(conf, m.Confidence)
		}
		fmt.Fprintf(w, "%-24s %8s %s   norms %s   confidence %s\n", c.Name, "", pcts(acc), nums(norms), nums(conf))
	}
	fmt.Fprintln(w, "\nCalibration of the merged models (mean ECE on test, before -> after temperature scaling on validation):")
	for _, c := range r.Columns {
		var parts []string
		for _, mr := range c.Methods {
			parts = append(parts, fmt.Sprintf("%s %.3f->%.3f", methodLabel(mr.Method), mr.MeanECE[0], mr.MeanECE[1]))
		}
		fmt.Fprintf(w, "  %-24s %s\n", c.Name, strings.Join(parts, "  "))
	}
}

func methodLabel(m string) string {
	switch m {
	case "ta":
		return "TA"
	case "ties":
		return "TIES"
	case "consensus":
		return "Consensus"
	case "tsvm":
		return "TSV-M"
	case "isoc":
		return "Iso-C"
	case "wudi":
		return "WUDI"
	case "emr":
		return "EMR"
	}
	return m
}

func pcts(xs []float64) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprintf("%.1f", 100*x))
	}
	return strings.Join(s, " / ")
}

func nums(xs []float64) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprintf("%.3g", x))
	}
	return strings.Join(s, " / ")
}

// writeOutputs stores results.json and report.html in the work directory.
func (p *pipeline) writeOutputs() error {
	path := filepath.Join(p.o.Workdir, "results.json")
	if err := writeFileAtomic(path, p.res); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return p.res.WriteHTML(filepath.Join(p.o.Workdir, "report.html"))
}
