// Command loadgen drives synthetic load at a running jobhall through its
// real interfaces and prints a JSON summary. Each scenario lives in its own
// file and registers itself in the scenarios table.
//
//	loadgen <scenario> [flags]
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// scenario runs one kind of load; args are the flags after its name.
type scenario struct {
	help string
	run  func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// scenarios is filled by each scenario file's init.
var scenarios = map[string]scenario{}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || scenarios[args[0]].run == nil {
		names := make([]string, 0, len(scenarios))
		for n := range scenarios {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintln(stderr, "usage: loadgen <scenario> [flags]; scenarios:")
		for _, n := range names {
			fmt.Fprintf(stderr, "  %-12s %s\n", n, scenarios[n].help)
		}
		if len(args) == 0 {
			return fmt.Errorf("no scenario given")
		}
		return fmt.Errorf("unknown scenario %q", args[0])
	}
	return scenarios[args[0]].run(ctx, args[1:], stdout, stderr)
}
