package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// commandFlags runs every command with -h and returns its flag set (and
// what -h printed), checking -h is a success.
func commandFlags(t *testing.T) map[string]*flag.FlagSet {
	t.Helper()
	sets := map[string]*flag.FlagSet{}
	var cur *flag.FlagSet
	flagSetHook = func(fs *flag.FlagSet) { cur = fs; fs.SetOutput(&bytes.Buffer{}) }
	defer func() { flagSetHook = nil }()
	for name, c := range commands {
		cur = nil
		if err := c.run([]string{"-h"}); err != nil {
			t.Errorf("distac %s -h: %v (want success)", name, err)
		}
		if cur == nil {
			t.Fatalf("distac %s makes its flags without newFlagSet", name)
		}
		sets[name] = cur
	}
	return sets
}

// TestFlagVocabulary walks every command's flags against the convention
// written in flags.go: one name per idea, the same type under one name
// everywhere, old names only as warned aliases, --quiet on every command
// with progress and --json where results are printed.
func TestFlagVocabulary(t *testing.T) {
	sets := commandFlags(t)
	// Names another idea's flag had, or a peer tool uses: never a live flag.
	retired := map[string]string{
		"workers": "threads", "parallel": "parallel-tasks", "examples": "max-images", "jobs": "threads",
		"num-threads": "threads", "cpus": "threads", "max-examples": "max-images", "silent": "quiet",
		"output": "out", "config": "model-config (or, on merge and condition only, the job's settings)",
	}
	wellFormed := regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	// A flag given once per task on multi-task commands takes a list there.
	repeatable := map[string]bool{"task": true, "head": true, "data": true, "out": true, "eval": true, "calibrate": true}
	types := map[string]string{} // flag -> value type, over all commands
	where := map[string]string{}
	quiet := []string{"demo", "finetune", "condition", "merge", "diagnose", "eval", "predict", "head"}
	asJSON := []string{"diagnose", "merge", "condition", "eval", "hw"}
	names := make([]string, 0, len(sets))
	for n := range sets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, cmd := range names {
		fs := sets[cmd]
		fs.VisitAll(func(f *flag.Flag) {
			if !wellFormed.MatchString(f.Name) {
				t.Errorf("%s --%s: not lower-case words joined by -", cmd, f.Name)
			}
			if a, ok := f.Value.(*aliasValue); ok {
				if fs.Lookup(a.name) == nil {
					t.Errorf("%s --%s: alias of --%s, which it does not have", cmd, f.Name, a.name)
				}
				if f.Usage != "deprecated: use --"+a.name {
					t.Errorf("%s --%s: alias usage %q", cmd, f.Name, f.Usage)
				}
				return
			}
			if want, bad := retired[f.Name]; bad && !(f.Name == "config" && (cmd == "merge" || cmd == "condition")) {
				t.Errorf("%s --%s: the convention's name is --%s", cmd, f.Name, want)
			}
			if f.Usage == "" {
				t.Errorf("%s --%s: no usage", cmd, f.Name)
			}
			typ := fmt.Sprintf("%T", f.Value)
			if repeatable[f.Name] && typ == "*main.listFlag" {
				typ = "*flag.stringValue"
			}
			if typ == "*main.textFlag" { // a merge parameter, parsed by its own kind
				return
			}
			if prev, ok := types[f.Name]; ok && prev != typ {
				t.Errorf("--%s is %s on %s but %s on %s", f.Name, prev, where[f.Name], typ, cmd)
			} else if !ok {
				types[f.Name], where[f.Name] = typ, cmd
			}
		})
		var help bytes.Buffer
		fs.SetOutput(&help)
		fs.Usage()
		if strings.Contains(help.String(), `(default "-")`) || strings.Contains(help.String(), "deprecated") {
			t.Errorf("%s -h shows a sentinel default or a deprecated alias:\n%s", cmd, help.String())
		}
	}
	for _, cmd := range quiet {
		if sets[cmd].Lookup("quiet") == nil {
			t.Errorf("%s has no --quiet", cmd)
		}
	}
	for _, cmd := range asJSON {
		if sets[cmd].Lookup("json") == nil {
			t.Errorf("%s has no --json", cmd)
		}
	}
	for _, cmd := range []string{"merge", "diagnose", "condition", "finetune", "eval", "predict", "head", "hw"} {
		if sets[cmd].Lookup("threads") == nil {
			t.Errorf("%s has no --threads", cmd)
		}
	}
}

// An old flag name still works for a release, with a warning naming the
// new one.
func TestDeprecatedAliasSets(t *testing.T) {
	fs := newFlagSet("x", "")
	fs.SetOutput(&bytes.Buffer{})
	v := addThreadsFlag(fs, "workers", "test")
	if err := fs.Parse([]string{"--workers", "3"}); err != nil || *v != 3 {
		t.Fatalf("--workers 3: %v, threads %d", err, *v)
	}
	var given []string
	fs.Visit(func(f *flag.Flag) { given = append(given, canonical(f)) })
	if len(given) != 1 || given[0] != "threads" {
		t.Errorf("canonical names of the given flags: %v", given)
	}
}

// distac -h, help, help CMD and --version succeed; no arguments and an
// unknown command fail with the usage.
func TestTopLevelHelp(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		ok   bool
		want string
	}{
		{[]string{"-h"}, true, "commands:"}, {[]string{"--help"}, true, "commands:"}, {[]string{"help"}, true, "commands:"},
		{[]string{"help", "merge"}, true, "usage: distac merge"}, {[]string{"diagnose", "--help"}, true, "usage: distac diagnose"},
		{[]string{"--version"}, true, "kernel ABI"}, {[]string{"version"}, true, "distac "},
		{[]string{"frobnicate"}, false, "unknown command"},
	} {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), "DISTAC_TEST_CHILD="+strings.Join(c.args, "\t"))
		out, err := cmd.CombinedOutput()
		if (err == nil) != c.ok || !strings.Contains(string(out), c.want) {
			t.Errorf("distac %s: err %v, output:\n%s", strings.Join(c.args, " "), err, out)
		}
	}
}
