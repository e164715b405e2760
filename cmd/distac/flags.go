package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/term"
)

// The flag helpers every command shares.

// newFlagSet returns a flag set whose -h prints usage and then the flags.
func newFlagSet(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	return fs
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
const backendUsage = "compute backend: auto (the best this binary and machine have), cpu (best of this CPU, or $DISTAC_CPU), ref, scalar, avx2, avx512"

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
