package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/distac/model"
	"golang.org/x/term"
)

// The flag helpers every command shares, and the vocabulary they keep: one
// name per idea on every command (TestFlagVocabulary walks every command's
// flags against it).
//
//	--threads N        CPU threads the command uses in all (0: one per CPU)
//	--parallel-tasks N tasks conditioned at once, sharing --threads
//	--max-images N     a seeded stratified sample of N images per set (0: all)
//	--model-config F   a model's config JSON (open_clip form)
//	--config F         merge or condition settings, YAML or JSON (merge, condition)
//	--backend B        compute backend (auto, cpu, cuda, ref, scalar, avx2, avx512)
//	--json             results as JSON on stdout, in place of the table
//	--quiet            nothing on stderr but errors and warnings
//	--out F, --out-dir D, --force, --seed N, --dtype D
//
// Names are lower case words joined by "-". An old spelling stays one
// release as a hidden alias that warns (deprecatedAlias).

// newFlagSet returns a flag set whose -h prints usage and then the flags
// (deprecated aliases left out).
func newFlagSet(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		printDefaults(fs)
	}
	if flagSetHook != nil {
		flagSetHook(fs)
	}
	return fs
}

// flagSetHook, when set (by tests), sees every flag set a command makes.
var flagSetHook func(*flag.FlagSet)

// printDefaults is flag.PrintDefaults without the deprecated aliases, with
// the type names of this package's flag values, and without a "(default
// ...)" where the usage says what the default is.
func printDefaults(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := f.Value.(*aliasValue); ok {
			return
		}
		name, usage := flag.UnquoteUsage(f)
		switch f.Value.(type) {
		case *intValue:
			name = "int"
		case *floatValue:
			name = "float"
		case *dtypeValue:
			name = "dtype"
		case *precisionValue:
			name = "precision"
		case *listFlag:
			name = "string"
		case *floatsFlag:
			name = "floats"
		case *textFlag:
			name = "value"
		}
		line := "  -" + f.Name
		if name != "" {
			line += " " + name
		}
		line += "\n    \t" + strings.ReplaceAll(usage, "\n", "\n    \t")
		if d := f.DefValue; d != "" && d != "0" && d != "false" && !strings.Contains(usage, "(default") {
			if _, text := f.Value.(*textFlag); text || fmt.Sprintf("%T", f.Value) == "*flag.stringValue" {
				d = strconv.Quote(d)
			}
			line += " (default " + d + ")"
		}
		fmt.Fprintln(fs.Output(), line)
	})
}

// aliasValue is an old flag name kept for one release: it sets the new
// flag's value and warns once.
type aliasValue struct {
	flag.Value
	old, name string
	warned    bool
}

func (a *aliasValue) Set(s string) error {
	if !a.warned {
		fmt.Fprintf(os.Stderr, "distac: --%s is deprecated; use --%s\n", a.old, a.name)
		a.warned = true
	}
	return a.Value.Set(s)
}

// deprecatedAlias makes --old set --name (already defined), with a warning.
func deprecatedAlias(fs *flag.FlagSet, old, name string) {
	f := fs.Lookup(name)
	fs.Var(&aliasValue{Value: f.Value, old: old, name: name}, old, "deprecated: use --"+name)
}

// canonical is the flag a given flag sets: itself, or for an alias the new
// name (for fs.Visit).
func canonical(f *flag.Flag) string {
	if a, ok := f.Value.(*aliasValue); ok {
		return a.name
	}
	return f.Name
}

// addThreadsFlag adds --threads: the CPU threads a command uses, what says
// what they do; old (if not "") is the deprecated name it had.
func addThreadsFlag(fs *flag.FlagSet, old, what string) *int {
	v := intFlag(fs, "threads", 0, 0, "CPU threads: "+what+" (0: one per CPU)")
	if old != "" {
		deprecatedAlias(fs, old, "threads")
	}
	return v
}

// addJSONFlag adds --json.
func addJSONFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("json", false, "print the results as JSON on stdout instead of a table")
}

// addQuietFlag adds --quiet.
func addQuietFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("quiet", false, "no progress on stderr (errors and warnings still show)")
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// parseFlags parses args, treating -h as success (help is then true and the
// command returns at once) and rejecting positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) (help bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return false, err
	}
	if fs.NArg() > 0 {
		return false, fmt.Errorf("unexpected arguments %q (flags start with -)", fs.Args())
	}
	return false, nil
}

// backendUsage is the --backend flag's help, the same on every command.
const backendUsage = "compute backend: auto ($DISTAC_BACKEND, else the best verified path of this binary and machine), cpu (best of this CPU, or $DISTAC_CPU), cuda (the GPU; never run on one yet), ref, scalar, avx2, avx512"

// addBackendFlag adds --backend, default auto.
func addBackendFlag(fs *flag.FlagSet) *string { return fs.String("backend", "auto", backendUsage) }

// listFlag collects a repeated flag (--task A --task B).
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// floatsFlag is "0.4" or "0.3,0.4,0.5".
type floatsFlag []float64

func (f *floatsFlag) String() string {
	var s []string
	for _, x := range *f {
		s = append(s, strconv.FormatFloat(x, 'g', -1, 64))
	}
	return strings.Join(s, ",")
}

func (f *floatsFlag) Set(s string) error {
	*f = nil
	for _, p := range strings.Split(s, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", p)
		}
		*f = append(*f, x)
	}
	return nil
}

// textFlag is a flag kept as text, parsed later by what it sets (a merge
// method's parameter); String gives the default until it is set.
type textFlag struct{ value string }

func (f *textFlag) String() string     { return f.value }
func (f *textFlag) Set(s string) error { f.value = s; return nil }

// isTerminal reports whether f is a terminal (progress bars are off otherwise).
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// Numeric flags are checked when they are parsed, before any work, by one
// set of rules: the error names the flag and the rule ("invalid value "-1"
// for flag -warmup: want an integer >= 0").

// intValue is an int flag that must be at least min.
type intValue struct {
	v   *int
	min int
}

func (f *intValue) String() string {
	if f.v == nil {
		return "0"
	}
	return strconv.Itoa(*f.v)
}

func (f *intValue) Set(s string) error {
	x, err := strconv.ParseInt(strings.TrimSpace(s), 0, strconv.IntSize)
	if err != nil || int(x) < f.min {
		return fmt.Errorf("want an integer >= %d", f.min)
	}
	*f.v = int(x)
	return nil
}

// intFlag defines an int flag of at least min.
func intFlag(fs *flag.FlagSet, name string, def, min int, usage string) *int {
	v := def
	fs.Var(&intValue{&v, min}, name, usage)
	return &v
}

// rule is the range a float flag's value must lie in; every value must be
// finite (NaN and Inf are never accepted).
type rule struct {
	lo, hi         float64
	loOpen, hiOpen bool // the end itself is excluded
}

var (
	finite      = rule{lo: math.Inf(-1), hi: math.Inf(1)}
	nonNegative = rule{lo: 0, hi: math.Inf(1)}
	positive    = rule{lo: 0, hi: math.Inf(1), loOpen: true}
	unit        = rule{lo: 0, hi: 1} // [0, 1]
)

func (r rule) String() string {
	switch r {
	case finite:
		return "a finite number"
	case nonNegative:
		return "a finite number >= 0"
	case positive:
		return "a finite number > 0"
	}
	l, h := "[", "]"
	if r.loOpen {
		l = "("
	}
	if r.hiOpen {
		h = ")"
	}
	return fmt.Sprintf("a number in %s%g, %g%s", l, r.lo, r.hi, h)
}

func (r rule) holds(x float64) bool {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return false
	}
	return (x > r.lo || !r.loOpen && x == r.lo) && (x < r.hi || !r.hiOpen && x == r.hi)
}

// floatValue is a float64 flag within a rule.
type floatValue struct {
	v *float64
	r rule
}

func (f *floatValue) String() string {
	if f.v == nil {
		return "0"
	}
	return strconv.FormatFloat(*f.v, 'g', -1, 64)
}

func (f *floatValue) Set(s string) error {
	x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || !f.r.holds(x) {
		return fmt.Errorf("want %s", f.r)
	}
	*f.v = x
	return nil
}

// floatFlag defines a float64 flag within r.
func floatFlag(fs *flag.FlagSet, name string, def float64, r rule, usage string) *float64 {
	v := def
	fs.Var(&floatValue{&v, r}, name, usage)
	return &v
}

// dtypeValue is an output dtype flag, checked when parsed: "" (the input's),
// f32, f16 or bf16.
type dtypeValue struct{ v *string }

func (f *dtypeValue) String() string {
	if f.v == nil {
		return ""
	}
	return *f.v
}

func (f *dtypeValue) Set(s string) error {
	if _, _, err := checkpoint.ParseOutDType(s); err != nil {
		return errors.New("want f32, f16 or bf16")
	}
	*f.v = s
	return nil
}

// dtypeFlag defines --dtype.
func dtypeFlag(fs *flag.FlagSet, usage string) *string {
	var v string
	fs.Var(&dtypeValue{&v}, "dtype", usage)
	return &v
}

// precisionValue is --precision, checked when parsed: f32 or bf16
// (model.ParsePrecision's names).
type precisionValue struct{ v *model.Precision }

func (f *precisionValue) String() string {
	if f.v == nil {
		return ""
	}
	return string(*f.v)
}

func (f *precisionValue) Set(s string) error {
	p, err := model.ParsePrecision(s)
	if err != nil {
		return errors.New("want f32 or bf16")
	}
	*f.v = p
	return nil
}

// precisionFlag defines --precision with default def ("" : unset).
func precisionFlag(fs *flag.FlagSet, def model.Precision, usage string) *model.Precision {
	v := def
	fs.Var(&precisionValue{&v}, "precision", usage)
	return &v
}
