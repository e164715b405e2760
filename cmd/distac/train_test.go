package main

import (
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/distac/distac/distac/merge"
	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/distac/train"
	"github.com/distac/distac/internal/testutil"
)

// world is a base model, two tasks fine-tuned from it with different
// learning rates (so their task vectors differ in length), their heads
// and data, all in dir.
type world struct {
	dir, cfg, base                       string
	trainA, testA, trainB, testB, headA  string
	headB, ftA, ftB                      string
	prefix                               string
	classes, n, nTest                    int
	finetuneOutA, finetuneOutB, initText string
}

// newWorld builds a world on cfgJSON (an 8 x 8 single-channel model).
func newWorld(t *testing.T, cfgJSON, prefix string) *world {
	t.Helper()
	dir := t.TempDir()
	w := &world{dir: dir, prefix: prefix, classes: 4, n: 96, nTest: 48}
	w.cfg = writeFile(t, dir, "model.json", cfgJSON)
	w.base = filepath.Join(dir, "base.safetensors")
	w.initText = mustRun(t, runInit, "--model-config", w.cfg, "--out", w.base, "--seed", "1", "--prefix", prefix)
	w.trainA = writeSet(t, dir, "a-train.safetensors", synthSet(w.n, w.classes, 1, 8, 8, 11, 1))
	w.testA = writeSet(t, dir, "a-test.safetensors", synthSet(w.nTest, w.classes, 1, 8, 8, 11, 2))
	w.trainB = writeSet(t, dir, "b-train.safetensors", synthSet(w.n, w.classes, 1, 8, 8, 22, 3))
	w.testB = writeSet(t, dir, "b-test.safetensors", synthSet(w.nTest, w.classes, 1, 8, 8, 22, 4))
	w.headA, w.headB = filepath.Join(dir, "a.head.safetensors"), filepath.Join(dir, "b.head.safetensors")
	mustRun(t, runHead, "--model", w.base, "--data", w.trainA, "--out", w.headA, "--max-images", "0")
	mustRun(t, runHead, "--model", w.base, "--data", w.trainB, "--out", w.headB, "--max-images", "0")
	w.ftA, w.ftB = filepath.Join(dir, "a.safetensors"), filepath.Join(dir, "b.safetensors")
	w.finetuneOutA = mustRun(t, runFinetune, "--model", w.base, "--head", w.headA, "--data", w.trainA, "--out", w.ftA,
		"--lr", "1e-3", "--steps", "8", "--warmup", "2", "--batch", "32", "--quiet")
	w.finetuneOutB = mustRun(t, runFinetune, "--model", w.base, "--head", w.headB, "--data", w.trainB, "--out", w.ftB,
		"--lr", "1e-2", "--steps", "30", "--warmup", "2", "--batch", "32", "--seed", "5", "--quiet")
	return w
}

// conditionArgs are condition's flags for the world's two tasks (base,
// fine-tuned models, heads and training data), then extra.
func (w *world) conditionArgs(extra ...string) []string {
	return append([]string{"--base", w.base, "--task", w.ftA, "--task", w.ftB, "--head", w.headA, "--head", w.headB,
		"--data", w.trainA, "--data", w.trainB}, extra...)
}

// metaValue returns the value of key=value in a space-separated record.
func metaValue(t *testing.T, record, key string) string {
	t.Helper()
	for _, f := range strings.Fields(record) {
		if k, v, ok := strings.Cut(f, "="); ok && k == key {
			return v
		}
	}
	t.Fatalf("record %q has no %s=", record, key)
	return ""
}

func metaFloat(t *testing.T, record, key string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(metaValue(t, record, key), 64)
	if err != nil {
		t.Fatalf("record %q: %s: %v", record, key, err)
	}
	return v
}

func TestTrainingCommands(t *testing.T) {
	w := newWorld(t, tinyMLP, "model.visual.")
	want, err := model.ParseConfig([]byte(tinyMLP))
	if err != nil {
		t.Fatal(err)
	}

	// init: the config and prefix travel in the metadata, every tensor under the prefix.
	cfg, base := loadValues(t, w.base)
	if cfg.JSON() != want.JSON() {
		t.Fatalf("init stored config %s, want %s", cfg.JSON(), want.JSON())
	}
	if md := metadata(t, w.base); md[model.PrefixKey] != "model.visual." {
		t.Fatalf("init stored prefix %q", md[model.PrefixKey])
	}
	if _, shape := readTensorF32(t, w.base, "model.visual.fc.0.weight"); fmt.Sprint(shape) != "[16 64]" {
		t.Fatalf("model.visual.fc.0.weight has shape %v", shape)
	}
	layout := model.LayoutOf(want)
	if !strings.Contains(w.initText, fmt.Sprintf("%d parameters", countParams(layout))) {
		t.Fatalf("init printed %q, want %d parameters", w.initText, countParams(layout))
	}

	// head: classes x embed_dim rows of norm --scale (20).
	hw, shape := readTensorF32(t, w.headA, model.HeadTensor)
	if fmt.Sprint(shape) != fmt.Sprintf("[%d %d]", w.classes, want.EmbedDim) {
		t.Fatalf("head shape %v", shape)
	}
	for c := range w.classes {
		var s float64
		for _, v := range hw[c*want.EmbedDim : (c+1)*want.EmbedDim] {
			s += float64(v) * float64(v)
		}
		if math.Abs(math.Sqrt(s)-20) > 1e-4 {
			t.Fatalf("head row %d has norm %g, want 20", c, math.Sqrt(s))
		}
	}

	// finetune: parameters recorded, config and prefix kept, the loss falls.
	md := metadata(t, w.ftB)
	rec := md["distac.finetune"]
	if metaValue(t, rec, "lr") != "0.01" || metaValue(t, rec, "steps") != "30" || metaValue(t, rec, "data") != w.trainB ||
		metaValue(t, rec, "warmup") != "2" || metaValue(t, rec, "seed") != "5" || metaValue(t, rec, "weight_decay") != "0.1" {
		t.Fatalf("finetune metadata %q", rec)
	}
	if md[model.PrefixKey] != "model.visual." || md[model.ConfigKey] != want.JSON() {
		t.Fatalf("finetune metadata lost the config or prefix: %v", md)
	}
	var l0, l1 float64
	if _, err := fmt.Sscanf(w.finetuneOutB[strings.Index(w.finetuneOutB, "loss"):], "loss %g -> %g", &l0, &l1); err != nil || !(l1 < l0) {
		t.Fatalf("finetune loss did not fall (%v): %s", err, w.finetuneOutB)
	}
	_, ftA := loadValues(t, w.ftA)
	_, ftB := loadValues(t, w.ftB)
	nA, nB := distance(ftA, base), distance(ftB, base)
	if !(nB > 1.5*nA) {
		t.Fatalf("task vector norms %g (a) and %g (b): b should be the longer", nA, nB)
	}

	t.Run("condition --out-dir", func(t *testing.T) {
		outDir := mkdir(t, filepath.Join(w.dir, "cond"))
		text := mustRun(t, runCondition, w.conditionArgs("--eval", w.testA, "--eval", w.testB,
			"--out-dir", outDir, "--steps", "4", "--batch", "32", "--lr", "1e-3", "--quiet")...)
		outA, outB := filepath.Join(outDir, "a.distac.safetensors"), filepath.Join(outDir, "b.distac.safetensors")
		// kappa_b = ||tau_a|| / ||tau_b|| < 1 shrinks b; a would stretch, so it stays at 1.
		kB := nA / nB
		recB := metadata(t, outB)["distac.condition"]
		if got := metaFloat(t, recB, "kappa"); math.Abs(got-kB) > 1e-4*kB {
			t.Fatalf("b: kappa %g, want ||tau_a||/||tau_b|| = %g", got, kB)
		}
		if got := metaFloat(t, metadata(t, outA)["distac.condition"], "kappa"); got != 1 {
			t.Fatalf("a: kappa %g, want 1 (shrink only)", got)
		}
		if metaValue(t, recB, "t_tcr") != "10" || metaValue(t, recB, "t_stu") != "10" || metaValue(t, recB, "steps") != "4" ||
			metaValue(t, recB, "warmup") != "4" || metaValue(t, recB, "lr") != "0.001" || metaValue(t, recB, "data") != w.trainB {
			t.Fatalf("b: condition metadata %q", recB)
		}
		if md := metadata(t, outB); md[model.ConfigKey] != want.JSON() || md[model.PrefixKey] != "model.visual." {
			t.Fatalf("condition output lost the config or prefix: %v", md)
		}
		_, sB := loadValues(t, outB)
		if after := distance(sB, base); !(after < nB) {
			t.Fatalf("b: ||theta_s - theta_0|| = %g, not below the teacher's %g", after, nB)
		}
		for _, line := range []string{fmt.Sprintf("%.3f", kB), "1.000", "wrote " + outA, "wrote " + outB, "acc tcr / scaled / stu"} {
			if !strings.Contains(text, line) {
				t.Errorf("summary lacks %q:\n%s", line, text)
			}
		}
	})

	t.Run("condition --json", func(t *testing.T) {
		outDir := mkdir(t, filepath.Join(w.dir, "cond-json"))
		text := mustRun(t, runCondition, w.conditionArgs("--eval", w.testA, "--eval", w.testB,
			"--out-dir", outDir, "--steps", "2", "--batch", "32", "--json", "--quiet")...)
		var rep train.ConditionReport
		decodeJSON(t, text, &rep)
		if len(rep.Tasks) != 2 {
			t.Fatalf("condition --json: %d tasks:\n%s", len(rep.Tasks), text)
		}
		a, b := rep.Tasks[0], rep.Tasks[1]
		if a.Task != "a" || a.Kappa != 1 || a.Skipped == "" || a.KLLast != nil || a.Input != w.ftA {
			t.Errorf("task a: %+v", a)
		}
		if b.Task != "b" || math.Abs(b.Kappa-nA/nB) > 1e-4 || b.KLLast == nil || b.Output != filepath.Join(outDir, "b.distac.safetensors") ||
			b.Teacher == nil || b.Teacher.Accuracy == nil || b.Student == nil || !(b.NormAfter < b.NormBefore) {
			t.Errorf("task b: %+v", b)
		}
		if _, err := os.Stat(b.Output); err != nil {
			t.Error(err)
		}
	})

	cond := [2]string{filepath.Join(w.dir, "a.conf.safetensors"), filepath.Join(w.dir, "b.conf.safetensors")}
	t.Run("condition --out --kappa --confidence", func(t *testing.T) {
		text := mustRun(t, runCondition, w.conditionArgs("--eval", w.testA, "--eval", w.testB,
			"--out", cond[0], "--out", cond[1], "--kappa", "0.5", "--confidence", "--steps", "10", "--batch", "32", "--lr", "1e-3",
			"--parallel", "1", "--quiet")...)
		for i := range cond {
			rec := metadata(t, cond[i])["distac.condition"]
			if metaValue(t, rec, "kappa") != "0.5" || metaValue(t, rec, "t_tcr") != "1" || metaValue(t, rec, "t_stu") != "10" {
				t.Fatalf("%s: condition metadata %q, want kappa 0.5 and (1, 10)", cond[i], rec)
			}
		}
		_, s := loadValues(t, cond[1])
		if after := distance(s, base); !(after < nB) {
			t.Fatalf("b: ||theta_s - theta_0|| = %g, not below the teacher's %g", after, nB)
		}
		rows := 0
		for _, line := range strings.Split(text, "\n") {
			// task kappa before -> after KL entropy-tcr / scaled / stu acc ...
			f := strings.Fields(line)
			if len(f) < 11 || (f[0] != "a" && f[0] != "b") {
				continue
			}
			rows++
			if f[1] != "0.500" {
				t.Errorf("summary row %q: kappa %s, want 0.500", line, f[1])
			}
			// (T_tcr, T_stu) = (1, 10) leaves the student more confident than its teacher.
			tcr, err1 := strconv.ParseFloat(f[6], 64)
			stu, err2 := strconv.ParseFloat(f[10], 64)
			if f[0] == "a" && (err1 != nil || err2 != nil || !(stu < tcr)) {
				t.Errorf("summary row %q: student entropy %s not below the teacher's %s", line, f[10], f[6])
			}
		}
		if rows != 2 {
			t.Fatalf("summary has %d task rows, want 2:\n%s", rows, text)
		}
	})

	t.Run("predict", func(t *testing.T) {
		st, csvPath := filepath.Join(w.dir, "logits.safetensors"), filepath.Join(w.dir, "logits.csv")
		mustRun(t, runPredict, "--model", cond[1], "--head", w.headB, "--data", w.testB, "--out", st)
		mustRun(t, runPredict, "--model", cond[1], "--head", w.headB, "--data", w.testB, "--out", csvPath)
		logits, shape := readTensorF32(t, st, "logits")
		if fmt.Sprint(shape) != fmt.Sprintf("[%d %d]", w.nTest, w.classes) {
			t.Fatalf("logits shape %v", shape)
		}
		f, err := os.Open(csvPath)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		recs, err := csv.NewReader(f).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != w.nTest+1 || strings.Join(recs[0], ",") != "logit0,logit1,logit2,logit3,label" {
			t.Fatalf("csv: %d records, header %q", len(recs), recs[0])
		}
		for r, rec := range recs[1:] {
			for j := range w.classes {
				v, err := strconv.ParseFloat(rec[j], 32)
				if err != nil || float32(v) != logits[r*w.classes+j] {
					t.Fatalf("csv row %d col %d = %q, safetensors has %g", r, j, rec[j], logits[r*w.classes+j])
				}
			}
			if rec[w.classes] != strconv.Itoa(r%w.classes) {
				t.Fatalf("csv row %d label %q, want %d", r, rec[w.classes], r%w.classes)
			}
		}
		// Unlabelled images: no label column, no labels tensor.
		unl := writeSet(t, w.dir, "unlabelled.safetensors", unlabelled(synthSet(5, w.classes, 1, 8, 8, 22, 9)))
		csv2, st2 := filepath.Join(w.dir, "unl.csv"), filepath.Join(w.dir, "unl.safetensors")
		mustRun(t, runPredict, "--model", cond[1], "--head", w.headB, "--data", unl, "--out", csv2)
		mustRun(t, runPredict, "--model", cond[1], "--head", w.headB, "--data", unl, "--out", st2)
		if b, _ := os.ReadFile(csv2); !strings.HasPrefix(string(b), "logit0,logit1,logit2,logit3\n") || strings.Count(string(b), "\n") != 6 {
			t.Fatalf("unlabelled csv:\n%s", b)
		}
		ck := testutil.Open(t, st2)
		if _, ok := ck.Tensor("logits"); !ok || len(ck.Tensors) != 1 {
			t.Fatalf("unlabelled logits file has %d tensors, want logits alone", len(ck.Tensors))
		}
	})

	t.Run("eval", func(t *testing.T) {
		text := mustRun(t, runEval, "--model", cond[1], "--head", w.headA, "--data", w.testA, "--calibrate", w.testA,
			"--head", w.headB, "--data", w.testB, "--calibrate", w.testB, "--ref-acc", "0.9,0.8", "--json")
		var rows []struct {
			Data        string         `json:"data"`
			Metrics     train.Metrics  `json:"metrics"`
			Normalized  *float64       `json:"normalized_accuracy"`
			Temperature float64        `json:"temperature"`
			Calibrated  *train.Metrics `json:"calibrated"`
		}
		decodeJSON(t, text, &rows)
		if len(rows) != 2 || rows[0].Data != w.testA || rows[1].Data != w.testB {
			t.Fatalf("eval rows %+v", rows)
		}
		// Accuracy from the logits predict wrote for the same model, head and data.
		logits, _ := readTensorF32(t, filepath.Join(w.dir, "logits.safetensors"), "logits")
		correct := 0
		for r := range w.nTest {
			z := logits[r*w.classes : (r+1)*w.classes]
			best := 0
			for j := range z {
				if z[j] > z[best] {
					best = j
				}
			}
			if best == r%w.classes {
				correct++
			}
		}
		for i, ref := range []float64{0.9, 0.8} {
			r := rows[i]
			if r.Metrics.N != w.nTest || r.Normalized == nil || math.Abs(*r.Normalized-r.Metrics.Accuracy/ref) > 1e-12 {
				t.Fatalf("row %d: n %d, normalized %v for accuracy %g / %g", i, r.Metrics.N, r.Normalized, r.Metrics.Accuracy, ref)
			}
			// Calibrated on the test set itself, the fitted T cannot raise its NLL.
			if r.Calibrated == nil || r.Temperature < 0.05 || r.Temperature > 20 || r.Calibrated.NLL > r.Metrics.NLL+1e-9 {
				t.Fatalf("row %d: T %g, NLL %g -> %+v", i, r.Temperature, r.Metrics.NLL, r.Calibrated)
			}
		}
		if got := float64(correct) / float64(w.nTest); rows[1].Metrics.Accuracy != got {
			t.Fatalf("eval accuracy %g, the predicted logits give %g", rows[1].Metrics.Accuracy, got)
		}
		// The merge of conditioned models carries their config: eval loads it as it is.
		merged := filepath.Join(w.dir, "merged.safetensors")
		mustRun(t, runMerge, "--method", "ta", "--alpha", "0.5", "--base", w.base, "--task", cond[0], "--task", cond[1],
			"--out", merged, "--quiet")
		if md := metadata(t, merged); md[model.ConfigKey] != want.JSON() {
			t.Fatalf("merged model config %q, want %s", md[model.ConfigKey], want.JSON())
		}
		mustRun(t, runEval, "--model", merged, "--head", w.headA, "--data", w.testA, "--head", w.headB, "--data", w.testB)
		// EMR: merge writes the unified model and the modulators; eval of
		// the base with task 1's modulator is eval of theta_0 + lambda_1 M_1 ⊙ tau_uni.
		emr := filepath.Join(w.dir, "emr.safetensors")
		mustRun(t, runMerge, "--method", "emr", "--base", w.base, "--task", cond[0], "--task", cond[1], "--out", emr, "--quiet")
		mods := merge.ModulatorsPath(emr)
		md, err := merge.OpenModulators(mods)
		if err != nil {
			t.Fatal(err)
		}
		task1 := filepath.Join(w.dir, "emr-task1.safetensors")
		if err := merge.ApplyModulator(w.base, md, 1, task1, false); err != nil {
			t.Fatal(err)
		}
		md.Close()
		byIndex := mustRun(t, runEval, "--model", w.base, "--modulators", mods, "--task-index", "1", "--head", w.headB, "--data", w.testB, "--json")
		byName := mustRun(t, runEval, "--model", w.base, "--modulators", mods, "--task-index", filepath.Base(cond[1]), "--head", w.headB, "--data", w.testB, "--json")
		direct := mustRun(t, runEval, "--model", task1, "--head", w.headB, "--data", w.testB, "--json")
		if byIndex != direct || byName != direct {
			t.Fatalf("eval with the modulator:\n%s\nby name:\n%s\nof the modulated model:\n%s", byIndex, byName, direct)
		}
		table := mustRun(t, runEval, "--model", cond[1], "--head", w.headB, "--data", w.testB, "--ref-acc", "0.8")
		if !strings.Contains(table, "acc %") || !strings.Contains(table, fmt.Sprintf("%.2f", 100*rows[1].Metrics.Accuracy)) {
			t.Fatalf("eval table:\n%s", table)
		}
	})
}

// A task saved under another key prefix than the base's keeps its own, and
// one --head and --data serve every task.
func TestConditionPrefixAndSharedData(t *testing.T) {
	w := newWorld(t, tinyMLP, "model.visual.")
	other := filepath.Join(w.dir, "base-x.safetensors")
	mustRun(t, runInit, "--model-config", w.cfg, "--out", other, "--seed", "1", "--prefix", "x.")
	ftX := filepath.Join(w.dir, "ax.safetensors")
	mustRun(t, runFinetune, "--model", other, "--head", w.headA, "--data", w.trainA, "--out", ftX, "--steps", "5", "--quiet")
	outs := []string{filepath.Join(w.dir, "ax.out.safetensors"), filepath.Join(w.dir, "a.out.safetensors")}
	mustRun(t, runCondition, "--base", w.base, "--task", ftX, "--task", w.ftA, "--head", w.headA, "--data", w.trainA,
		"--out", outs[0], "--out", outs[1], "--steps", "3", "--batch", "16", "--quiet")
	for i, want := range []string{"x.", "model.visual."} {
		if got := metadata(t, outs[i])[model.PrefixKey]; got != want {
			t.Errorf("%s: prefix %q, want the task's %q", outs[i], got, want)
		}
	}
	readTensorF32(t, outs[0], "x.fc.0.weight")
}

// The ViT runs the same pipeline (no key prefix), a few steps each.
func TestTrainingCommandsViT(t *testing.T) {
	w := newWorld(t, tinyViT, "")
	if md := metadata(t, w.base); md[model.PrefixKey] != "" {
		t.Fatalf("prefix %q, want none", md[model.PrefixKey])
	}
	readTensorF32(t, w.base, "conv1.weight")
	_, base := loadValues(t, w.base)
	_, ft := loadValues(t, w.ftB)
	n := distance(ft, base)
	out := filepath.Join(w.dir, "b.distac.safetensors")
	text := mustRun(t, runCondition, "--base", w.base, "--task", w.ftB, "--head", w.headB, "--data", w.trainB,
		"--eval", w.testB, "--out", out, "--target-norm", fmt.Sprint(n/2), "--steps", "3", "--batch", "16", "--quiet")
	_, s := loadValues(t, out)
	if got := metaFloat(t, metadata(t, out)["distac.condition"], "kappa"); math.Abs(got-0.5) > 1e-4 {
		t.Fatalf("kappa %g, want --target-norm / ||tau|| = 0.5\n%s", got, text)
	}
	if after := distance(s, base); !(after < n) {
		t.Fatalf("||theta_s - theta_0|| = %g, not below %g", after, n)
	}
	table := mustRun(t, runEval, "--model", out, "--head", w.headB, "--data", w.testB)
	if !strings.Contains(table, fmt.Sprint(w.nTest)) {
		t.Fatalf("eval table:\n%s", table)
	}
}
