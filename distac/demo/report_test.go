package demo

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// reportColumns is the demo's five columns in table order.
var reportColumns = []string{ColIdeal, ColMismatch, ColMismatchDisTaC, ColLowConf, ColLowConfDisTaC}

// fakeResults builds a run by hand: every column and method, values that
// differ per task, column and method so a swapped cell shows.
func fakeResults(tasks ...string) *Results {
	r := &Results{Date: "2026-01-02T03:04:05Z", Machine: "test CPU, 2 CPUs, linux/amd64", Seed: 7, Tasks: tasks,
		Recipe: DefaultRecipe(), Elapsed: 271.2}
	for t := range tasks {
		r.ZeroShot = append(r.ZeroShot, 0.30+0.01*float64(t))
	}
	for c, name := range reportColumns {
		col := ColumnResult{Name: name}
		for t, task := range tasks {
			m := &ftModel{ModelSummary: ModelSummary{Task: task, Norm: 4 + float64(t) + float64(c),
				TestAcc: 0.9 - 0.01*float64(t), Entropy: 0.2 + 0.1*float64(c), Confidence: 0.95 - 0.05*float64(c)}}
			if strings.HasSuffix(name, "+ DisTaC") {
				m.Kappa = 0.5 + 0.1*float64(t)
			}
			col.Models = append(col.Models, m)
			col.Finetuned = append(col.Finetuned, m.TestAcc)
		}
		for k, method := range demoMethods {
			mr := &MethodResult{Method: method, Alpha: 0.3,
				MeanAcc: 0.5 + 0.01*float64(c) + 0.001*float64(k), MeanNorm: 0.6 + 0.01*float64(c) + 0.001*float64(k),
				MeanECE: [2]float64{0.12 + 0.01*float64(k), 0.05 + 0.001*float64(c)}}
			for range tasks {
				mr.TestAcc, mr.Normalized = append(mr.TestAcc, mr.MeanAcc), append(mr.Normalized, mr.MeanNorm)
			}
			col.Methods = append(col.Methods, mr)
		}
		r.Columns = append(r.Columns, col)
	}
	return r
}

// writeReport writes r's report into a fresh directory and returns the page.
func writeReport(t *testing.T, r *Results) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.html")
	if err := r.WriteHTML(path); err != nil {
		t.Fatalf("WriteHTML: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriteHTML(t *testing.T) {
	r := fakeResults("mnist", "fashion", "sklearn-digits")
	page := writeReport(t, r)
	if !strings.HasPrefix(page, "<!DOCTYPE html>") {
		t.Fatalf("page starts %q, want <!DOCTYPE html>", page[:min(len(page), 40)])
	}
	checkBalanced(t, page)
	checkSelfContained(t, page)
	checkFinite(t, page)
	doc := parseHTML(t, page)
	text := textOf(doc)
	for _, want := range append(append(methodLabels(), reportColumns...), r.Tasks...) {
		if !strings.Contains(text, want) {
			t.Errorf("page text lacks %q", want)
		}
	}

	// 2 norm, entropy and confidence, 2 accuracy, one ECE plot per column.
	figs := findAll(doc, atom.Figure)
	if want := 2 + 2 + 2 + len(reportColumns); len(figs) != want {
		t.Errorf("%d figures, want %d", len(figs), want)
	}
	for i, f := range figs {
		if len(findAll(f, atom.Svg)) != 1 || len(findAll(f, atom.Figcaption)) != 1 || strings.TrimSpace(textOf(findAll(f, atom.Figcaption)[0])) == "" {
			t.Errorf("figure %d: want one <svg> and a non-empty caption", i)
		}
	}
	if n := strings.Count(page, "<svg"); n != len(figs) {
		t.Errorf("%d <svg> elements, %d figures", n, len(figs))
	}

	// The main table: a header row and one row per method, each with a
	// label and one "abs (normalized)" cell per column.
	main := tableWithHeader(t, doc, "method")
	if len(main) != 1+len(demoMethods) {
		t.Fatalf("main table has %d rows, want %d", len(main), 1+len(demoMethods))
	}
	for k, method := range demoMethods {
		row := main[1+k]
		if len(row) != 1+len(reportColumns) || row[0] != methodLabel(method) {
			t.Fatalf("row %d = %q", k, row)
		}
		for c := range reportColumns {
			mr := r.Columns[c].Method(method)
			want := fmt.Sprintf("%.1f (%.1f)", 100*mr.MeanAcc, 100*mr.MeanNorm)
			if row[1+c] != want {
				t.Errorf("%s / %s = %q, want %q", method, reportColumns[c], row[1+c], want)
			}
		}
	}

	// The model table: every model of every column.
	models := tableWithHeader(t, doc, "task")
	if len(models) != 1+len(reportColumns)*len(r.Tasks) {
		t.Fatalf("model table has %d rows, want %d", len(models), 1+len(reportColumns)*len(r.Tasks))
	}
	m := r.Columns[2].Models[1] // norm mismatch + DisTaC, fashion
	want := []string{"fashion", ColMismatchDisTaC, fmt.Sprintf("%.2f", m.Norm), fmt.Sprintf("%.3f", m.Kappa),
		fmt.Sprintf("%.1f", 100*m.TestAcc), fmt.Sprintf("%.3f", m.Confidence), fmt.Sprintf("%.3f", m.Entropy)}
	if got := models[1+2*len(r.Tasks)+1]; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("model row = %q, want %q", got, want)
	}
	if got := models[1][3]; got != "–" {
		t.Errorf("kappa of an unconditioned model shows %q, want –", got)
	}
	for _, s := range []string{"4m31s", r.Date, r.Machine, `"embed_dim": 32`} {
		if !strings.Contains(text, s) {
			t.Errorf("page text lacks %q", s)
		}
	}
}

func TestWriteHTMLEscapes(t *testing.T) {
	odd := `<script>alert("x")</script>`
	r := fakeResults("mnist", odd)
	r.Machine = `CPU <b>bold</b> & co`
	r.Columns[1].Name = `norm <i>mismatch</i>`
	page := writeReport(t, r)
	if strings.Contains(strings.ToLower(page), "<script") || strings.Contains(page, "<b>bold") || strings.Contains(page, "<i>mismatch") {
		t.Fatal("an input string reached the page unescaped")
	}
	checkBalanced(t, page)
	text := textOf(parseHTML(t, page))
	for _, s := range []string{odd, r.Machine, r.Columns[1].Name} {
		if !strings.Contains(text, s) {
			t.Errorf("page text lacks %q (escaped once, it should read back as itself)", s)
		}
	}
}

func TestWriteHTMLMissingDir(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "missing", "report.html")
	err := fakeResults("mnist", "fashion").WriteHTML(path)
	if err == nil {
		t.Fatal("WriteHTML into a missing directory succeeded")
	}
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("error %q: want a not-exist error naming the path", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left %d entries behind", len(ents))
	}
}

func TestWriteHTMLReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "report.html")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := fakeResults("mnist", "fashion").WriteHTML(path); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(b), "<!DOCTYPE html>") {
		t.Error("the old file was not replaced")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d entries in the directory, want only report.html", len(ents))
	}
}

// changed is fakeResults for two tasks with model applied to every
// fine-tuned model and method to every method result of every column (nil:
// left as they are).
func changed(model func(*ftModel), method func(*MethodResult)) *Results {
	r := fakeResults("mnist", "fashion")
	for _, c := range r.Columns {
		for _, m := range c.Models {
			if model != nil {
				model(m)
			}
		}
		for _, mr := range c.Methods {
			if method != nil {
				method(mr)
			}
		}
	}
	return r
}

// TestPlotEdgeCases renders every plot, and the page, on inputs at the
// edges: each must succeed, and NaN or Inf must show as "n/a", never
// reach the SVG as a number.
func TestPlotEdgeCases(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name    string
		r       *Results
		figures int
		na      bool // some value is not finite: "n/a" must appear in a plot
	}{
		{"one task", fakeResults("mnist"), 11, false},
		{"zero norms", changed(func(m *ftModel) { m.Norm, m.Kappa = 0, 0 }, nil), 11, false},
		{"all zero", changed(func(m *ftModel) { m.ModelSummary = ModelSummary{Task: m.Task} },
			func(mr *MethodResult) { mr.MeanAcc, mr.MeanNorm, mr.MeanECE = 0, 0, [2]float64{} }), 11, false},
		{"NaN and Inf", func() *Results {
			r := fakeResults("mnist", "fashion")
			r.Elapsed, r.ZeroShot[0] = nan, math.Inf(1)
			for _, c := range r.Columns {
				c.Models[0].Norm, c.Models[1].Entropy, c.Models[0].Confidence, c.Models[1].Kappa = nan, math.Inf(1), nan, nan
				c.Methods[0].MeanAcc, c.Methods[1].MeanNorm, c.Methods[2].MeanECE = nan, math.Inf(-1), [2]float64{nan, nan}
			}
			return r
		}(), 11, true},
		{"all NaN", changed(func(m *ftModel) { m.Norm, m.Entropy, m.Confidence = nan, nan, nan },
			func(mr *MethodResult) { mr.MeanAcc, mr.MeanNorm, mr.MeanECE = nan, nan, [2]float64{nan, nan} }), 11, true},
		{"missing models and methods", func() *Results {
			r := fakeResults("mnist", "fashion", "svhn")
			r.Columns[1].Models = r.Columns[1].Models[:1]
			r.Columns[2].Models[2] = nil
			r.Columns[3].Methods = r.Columns[3].Methods[1:]
			r.ZeroShot = nil
			return r
		}(), 11, true},
		{"ideal column only", func() *Results {
			r := fakeResults("mnist", "fashion")
			r.Columns = r.Columns[:1]
			return r
		}(), 2 + 1, false},
		{"empty", &Results{}, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			figs := allFigures(t, tc.r)
			if len(figs) != tc.figures {
				t.Errorf("%d plots, want %d", len(figs), tc.figures)
			}
			na := false
			for i, f := range figs {
				checkFinite(t, string(f.SVG))
				if !strings.HasPrefix(string(f.SVG), "<svg") || !strings.HasSuffix(strings.TrimSpace(string(f.SVG)), "</svg>") {
					t.Errorf("plot %d is not one <svg> element", i)
				}
				na = na || strings.Contains(string(f.SVG), ">n/a<")
			}
			if na != tc.na {
				t.Errorf("n/a in the plots: %v, want %v", na, tc.na)
			}
			page := writeReport(t, tc.r)
			checkFinite(t, page)
			checkBalanced(t, page)
			if n := strings.Count(page, "<svg"); n != tc.figures {
				t.Errorf("page holds %d <svg>, want %d", n, tc.figures)
			}
		})
	}
}

// allFigures calls every plot function the page uses.
func allFigures(t *testing.T, r *Results) []*figure {
	t.Helper()
	fns := []func() (*figure, error){
		func() (*figure, error) { return normPlot(r, ColMismatch, ColMismatchDisTaC, "c") },
		func() (*figure, error) { return normPlot(r, ColLowConf, ColLowConfDisTaC, "c") },
		func() (*figure, error) { return entropyPlot(r, ColLowConf, ColLowConfDisTaC) },
		func() (*figure, error) { return confidencePlot(r, ColLowConf, ColLowConfDisTaC) },
		func() (*figure, error) { return accuracyPlot(r, true) },
		func() (*figure, error) { return accuracyPlot(r, false) },
	}
	for i := range r.Columns {
		fns = append(fns, func() (*figure, error) { return calibrationPlot(&r.Columns[i]) })
	}
	figs, err := collectFigures(fns...)
	if err != nil {
		t.Fatal(err)
	}
	return figs
}

func TestGroupedBarsNA(t *testing.T) {
	groups := []string{"a", "b"}
	ok, err := groupedBars("t", "y", groups, []barSeries{{Name: "s", Values: []float64{1, 2}}}, smallW, smallH)
	if err != nil {
		t.Fatal(err)
	}
	na, err := groupedBars("t", "y", groups, []barSeries{{Name: "s", Values: []float64{1, math.NaN()}}}, smallW, smallH)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(ok), ">n/a<") || strings.Count(string(na), ">n/a<") != 1 {
		t.Error("want exactly one n/a label where the value is NaN, none elsewhere")
	}
	neg, err := groupedBars("t", "y", groups, []barSeries{{Name: "s", Values: []float64{-1, 0}}}, smallW, smallH)
	if err != nil {
		t.Fatal(err)
	}
	checkFinite(t, string(neg))
	if _, err := groupedBars("t", "y", nil, nil, smallW, smallH); err == nil {
		t.Error("no groups: want an error")
	}
}

func TestShortTicks(t *testing.T) {
	n := 0
	for _, tk := range (shortTicks{}).Ticks(0, 82.5) {
		if tk.Label == "" {
			continue
		}
		n++
		if tk.Label != fmt.Sprint(tk.Value) {
			t.Errorf("tick %v labelled %q", tk.Value, tk.Label)
		}
	}
	if n < 2 {
		t.Errorf("%d labelled ticks", n)
	}
}

func TestReportFormatting(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{formatSeconds(271.4), "4m31s"}, {formatSeconds(math.NaN()), "n/a"}, {formatSeconds(-1), "n/a"},
		{pct(0.6444), "64.4"}, {pct(math.Inf(1)), "n/a"}, {fixed(math.NaN(), 3), "n/a"}, {fixed(1.23456, 2), "1.23"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if s := recipeJSON(Recipe{Model: "not json"}); !strings.Contains(s, `"model": "not json"`) {
		t.Errorf("a model string that is not JSON should stay a string:\n%s", s)
	}
}

// checkBalanced tokenizes the page and checks that every element other
// than the void ones is closed, in order.
func checkBalanced(t *testing.T, page string) {
	t.Helper()
	void := map[string]bool{"meta": true, "br": true, "hr": true, "img": true, "link": true, "input": true}
	z := html.NewTokenizer(strings.NewReader(page))
	var stack []string
	for {
		switch z.Next() {
		case html.ErrorToken:
			if len(stack) != 0 {
				t.Errorf("unclosed elements at the end: %v", stack)
			}
			return
		case html.StartTagToken:
			name, _ := z.TagName()
			if !void[string(name)] {
				stack = append(stack, string(name))
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			if len(stack) == 0 || stack[len(stack)-1] != string(name) {
				t.Fatalf("</%s> closes %v", name, stack)
			}
			stack = stack[:len(stack)-1]
		}
	}
}

// checkSelfContained: no scripts, stylesheets or frames, and every link
// or image source inline.
func checkSelfContained(t *testing.T, page string) {
	t.Helper()
	for _, n := range findAll(parseHTML(t, page), 0) {
		switch n.DataAtom {
		case atom.Script, atom.Link, atom.Iframe, atom.Object, atom.Embed:
			t.Errorf("page has a <%s>", n.Data)
		}
		for _, a := range n.Attr {
			if (a.Key == "src" || a.Key == "href") && !strings.HasPrefix(a.Val, "data:") && !strings.HasPrefix(a.Val, "#") {
				t.Errorf("<%s %s=%q> refers outside the page", n.Data, a.Key, a.Val)
			}
		}
	}
}

func checkFinite(t *testing.T, s string) {
	t.Helper()
	for _, bad := range []string{"NaN", "Inf"} {
		if strings.Contains(s, bad) {
			i := strings.Index(s, bad)
			t.Errorf("output holds %q: ...%s...", bad, s[max(0, i-60):min(len(s), i+20)])
		}
	}
}

func parseHTML(t *testing.T, page string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// findAll is every element under n with the given atom (0: every element).
func findAll(n *html.Node, a atom.Atom) []*html.Node {
	var out []*html.Node
	for c := range n.Descendants() {
		if c.Type == html.ElementNode && (a == 0 || c.DataAtom == a) {
			out = append(out, c)
		}
	}
	return out
}

func textOf(n *html.Node) string {
	var b strings.Builder
	for c := range n.Descendants() {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	}
	return b.String()
}

// tableWithHeader returns the cells' text, row by row, of the table whose
// first header cell reads first.
func tableWithHeader(t *testing.T, doc *html.Node, first string) [][]string {
	t.Helper()
	for _, tab := range findAll(doc, atom.Table) {
		var rows [][]string
		for _, tr := range findAll(tab, atom.Tr) {
			var row []string
			for c := tr.FirstChild; c != nil; c = c.NextSibling {
				if c.DataAtom == atom.Th || c.DataAtom == atom.Td {
					row = append(row, strings.TrimSpace(textOf(c)))
				}
			}
			rows = append(rows, row)
		}
		if len(rows) > 0 && len(rows[0]) > 0 && rows[0][0] == first {
			return rows
		}
	}
	t.Fatalf("no table headed %q", first)
	return nil
}
