package demo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"time"
)

// WriteHTML writes the run's report to path: one self-contained HTML page
// (plots as inline SVG, no scripts, no external files) with the merged
// accuracy table, every model's norm, kappa, accuracy, confidence and
// entropy, the plots, and the recipe. Every string goes through
// html/template. A value that is NaN or infinite shows as "n/a", in the
// tables and in the plots (an empty bar slot labelled n/a). The page is
// rendered in memory and then written atomically, so a failed write leaves
// nothing at path.
func (r *Results) WriteHTML(path string) error {
	var b bytes.Buffer
	if err := r.renderHTML(&b); err != nil {
		return fmt.Errorf("report %s: %w", path, err)
	}
	if err := writeFileAtomic(path, b.Bytes()); err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	return nil
}

// reportPage is what the template reads.
type reportPage struct {
	*Results
	Elapsed    string
	Methods    []reportMethodRow
	ModelRows  []reportModelRow
	ZeroShot   []reportTaskValue
	Figures    []*figure
	Accuracy   []*figure
	Calibrated []*figure
	Recipe     string
}

type reportMethodRow struct {
	Label string
	Cells []string // per column: "abs (normalized)" in percent
}

type reportModelRow struct {
	Task, Column, Norm, Kappa, Acc, Confidence, Entropy string
}

type reportTaskValue struct{ Task, Value string }

func (r *Results) renderHTML(b *bytes.Buffer) error {
	pg := reportPage{Results: r, Elapsed: formatSeconds(r.Elapsed), Recipe: recipeJSON(r.Recipe)}
	for _, m := range demoMethods {
		row := reportMethodRow{Label: methodLabel(m)}
		for i := range r.Columns {
			cell := "n/a"
			if mr := r.Columns[i].Method(m); mr != nil {
				cell = pct(mr.MeanAcc) + " (" + pct(mr.MeanNorm) + ")"
			}
			row.Cells = append(row.Cells, cell)
		}
		pg.Methods = append(pg.Methods, row)
	}
	for t, task := range r.Tasks {
		v := math.NaN()
		if t < len(r.ZeroShot) {
			v = r.ZeroShot[t]
		}
		pg.ZeroShot = append(pg.ZeroShot, reportTaskValue{task, pct(v)})
	}
	for _, c := range r.Columns {
		for _, m := range c.Models {
			if m == nil {
				continue
			}
			kappa := "–" // not conditioned: no teacher to compare with
			if m.Kappa != 0 {
				kappa = fixed(m.Kappa, 3)
			}
			pg.ModelRows = append(pg.ModelRows, reportModelRow{Task: m.Task, Column: c.Name, Norm: fixed(m.Norm, 2),
				Kappa: kappa, Acc: pct(m.TestAcc), Confidence: fixed(m.Confidence, 3), Entropy: fixed(m.Entropy, 3)})
		}
	}
	var err error
	if pg.Figures, err = collectFigures(
		func() (*figure, error) {
			return normPlot(r, ColMismatch, ColMismatchDisTaC, "Task-vector norm per task, norm mismatch before and after DisTaC: the norm fix shrinks the long vector toward the mean norm of the others.")
		},
		func() (*figure, error) {
			return normPlot(r, ColLowConf, ColLowConfDisTaC, "Task-vector norm per task, low confidence before and after DisTaC's confidence fix.")
		},
		func() (*figure, error) { return entropyPlot(r, ColLowConf, ColLowConfDisTaC) },
		func() (*figure, error) { return confidencePlot(r, ColLowConf, ColLowConfDisTaC) },
	); err != nil {
		return err
	}
	if pg.Accuracy, err = collectFigures(
		func() (*figure, error) { return accuracyPlot(r, true) },
		func() (*figure, error) { return accuracyPlot(r, false) },
	); err != nil {
		return err
	}
	for i := range r.Columns {
		f, err := calibrationPlot(&r.Columns[i])
		if err != nil {
			return err
		}
		pg.Calibrated = append(pg.Calibrated, f)
	}
	return reportTemplate.Execute(b, pg)
}

// collectFigures runs each plot function and keeps the figures it made (a
// plot whose columns the run lacks returns nil).
func collectFigures(fns ...func() (*figure, error)) ([]*figure, error) {
	var out []*figure
	for _, fn := range fns {
		f, err := fn()
		if err != nil {
			return nil, err
		}
		if f != nil {
			out = append(out, f)
		}
	}
	return out, nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// pct is a fraction in percent with one decimal, "n/a" if not finite.
func pct(x float64) string {
	if !finite(x) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", 100*x)
}

func fixed(x float64, digits int) string {
	if !finite(x) {
		return "n/a"
	}
	return fmt.Sprintf("%.*f", digits, x)
}

func formatSeconds(s float64) string {
	if !finite(s) || s < 0 {
		return "n/a"
	}
	return time.Duration(s * float64(time.Second)).Round(time.Second).String()
}

// recipeJSON is the recipe as indented JSON in field order, its encoder
// config (a JSON string) inlined as an object when it parses.
func recipeJSON(rc Recipe) string {
	shown := struct {
		Model json.RawMessage `json:"model"` // shadows Recipe.Model
		Recipe
	}{Recipe: rc}
	if json.Valid([]byte(rc.Model)) {
		shown.Model = json.RawMessage(rc.Model)
	} else if b, err := json.Marshal(rc.Model); err == nil {
		shown.Model = b
	}
	b, err := json.MarshalIndent(shown, "", "  ")
	if err != nil {
		return fmt.Sprintf("%+v", rc)
	}
	return string(b)
}

var reportTemplate = template.Must(template.New("report").Parse(reportHTML))

const reportHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>distac demo: DisTaC on {{len .Tasks}} tasks</title>
<style>
body { font-family: Arial, Helvetica, sans-serif; margin: 2em auto; max-width: 1150px; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.meta th { text-align: left; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; margin-top: 1em; }
figure { margin: 0; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { font-size: 0.85em; color: #444; max-width: 560px; }
pre { background: #f7f7f7; border: 1px solid #ddd; padding: 0.6em; font-size: 0.8em; overflow-x: auto; }
</style>
</head>
<body>
<h1>distac demo: merging with and without DisTaC</h1>
<table class="meta">
<tr><th>date</th><td>{{.Date}}</td></tr>
<tr><th>machine</th><td>{{.Machine}}</td></tr>
<tr><th>seed</th><td>{{.Seed}}</td></tr>
<tr><th>tasks</th><td>{{range $i, $t := .Tasks}}{{if $i}}, {{end}}{{$t}}{{end}}</td></tr>
<tr><th>elapsed</th><td>{{.Elapsed}}</td></tr>
</table>

<h2>What is measured</h2>
<p>Merging adds the task vectors τ<sub>t</sub> = θ<sub>t</sub> − θ<sub>0</sub> of models fine-tuned from one base
θ<sub>0</sub> into a single multi-task model, and it breaks in two common ways. <b>Norm mismatch</b>: when one task was
fine-tuned harder (a larger learning rate or more steps), its task vector is much longer than the others; the sum then
points mostly along it and the short vectors' tasks are drowned out. <b>Low confidence</b>: models trained with label
smoothing or mixup are under-confident, and merging such models loses accuracy. DisTaC conditions each model before
merging, without labels: a student starting at θ<sub>0</sub> + κ<sub>t</sub>τ<sub>t</sub> is distilled on unlabelled
inputs of its task from the frozen fine-tuned teacher. For the norm fix κ<sub>t</sub> shrinks a long vector to the mean
norm of the others (never stretching a short one) and the temperatures are (10, 10), so the student keeps the teacher's
predictions at the shorter length; for the confidence fix the temperatures are (1, 10), which makes the student sharper
than its teacher. The merged models are then calibrated by temperature scaling on validation data.</p>

<h2>Merged accuracy</h2>
<p>Mean test accuracy over the tasks in percent: absolute (normalized, i.e. merged / fine-tuned per task).</p>
<table>
<tr><th>method</th>{{range .Columns}}<th>{{.Name}}</th>{{end}}</tr>
{{range .Methods}}<tr><th>{{.Label}}</th>{{range .Cells}}<td class="num">{{.}}</td>{{end}}</tr>
{{end}}</table>
<p>Zero-shot accuracy of the base model under each task's head:
{{range $i, $z := .ZeroShot}}{{if $i}}, {{end}}{{$z.Task}} {{$z.Value}}%{{end}}.</p>
<div class="plots">
{{range .Accuracy}}<figure>{{.SVG}}<figcaption>{{.Caption}}</figcaption></figure>
{{end}}</div>

<h2>Task models</h2>
<p>Every model merged in each column: the norm of its task vector, κ (for a conditioned model, the scale its student
started from, θ<sub>0</sub> + κτ; – where not conditioned), its test accuracy (%), and its mean confidence
(top-1 probability) and prediction entropy (nats) on test.</p>
<table>
<tr><th>task</th><th>column</th><th>norm</th><th>κ</th><th>test accuracy</th><th>confidence</th><th>entropy</th></tr>
{{range .ModelRows}}<tr><td>{{.Task}}</td><td>{{.Column}}</td><td class="num">{{.Norm}}</td><td class="num">{{.Kappa}}</td><td class="num">{{.Acc}}</td><td class="num">{{.Confidence}}</td><td class="num">{{.Entropy}}</td></tr>
{{end}}</table>
<div class="plots">
{{range .Figures}}<figure>{{.SVG}}<figcaption>{{.Caption}}</figcaption></figure>
{{end}}</div>

<h2>Calibration</h2>
<div class="plots">
{{range .Calibrated}}<figure>{{.SVG}}<figcaption>{{.Caption}}</figcaption></figure>
{{end}}</div>

<h2>Recipe</h2>
<pre>{{.Recipe}}</pre>
<p>n/a: a value that was not measured or is not finite.</p>
</body>
</html>
`
