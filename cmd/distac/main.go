// Command distac conditions fine-tuned models with DisTaC and merges them.
//
// Each subcommand lives in its own file and registers itself in init().
package main

import (
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/distac/distac/distac/checkpoint"
)

// command is one subcommand: run gets the arguments after its name.
type command struct {
	summary string
	run     func(args []string) error
}

var commands = map[string]command{}

func register(name, summary string, run func(args []string) error) {
	commands[name] = command{summary: summary, run: run}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: distac <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun 'distac help <command>' (or 'distac <command> -h') for a command's flags,")
	fmt.Fprintln(os.Stderr, "'distac --version' for the version.")
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	switch os.Args[1] {
	case "-h", "-help", "--help":
		usage()
		return
	case "help":
		if len(os.Args) == 2 {
			usage()
			return
		}
		os.Args = []string{os.Args[0], os.Args[2], "-h"}
	case "-version", "--version", "version":
		fmt.Println(versionText())
		return
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "distac: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	cleanUpOnSignals()
	if err := cmd.run(os.Args[2:]); err != nil {
		// Library errors often start with the operation's name already.
		msg := strings.TrimPrefix(err.Error(), os.Args[1]+": ")
		fmt.Fprintf(os.Stderr, "distac %s: %s\n", os.Args[1], msg)
		os.Exit(1)
	}
}

// cleanUpOnSignals makes SIGINT, SIGTERM (a scheduler's preemption) and
// SIGHUP remove the temporary outputs of every command before it exits with
// 128 + the signal's number, as a shell reports a killed process: an
// interrupted run leaves nothing beside its targets. An output being moved
// into place is finished first, so it is either whole or absent. A second
// signal meanwhile is ignored.
func cleanUpOnSignals() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		sig := <-sigs
		removed := checkpoint.RemoveTemporaries()
		fmt.Fprintf(os.Stderr, "distac %s: %s: stopped; removed %d temporary output file(s)\n", os.Args[1], sig, len(removed))
		os.Exit(128 + int(sig.(syscall.Signal)))
	}()
}
