// Command jobhall is the whole platform in one binary: pages, booking API,
// signalling and the SFU. Subcommands: serve (default), migrate, seed-demo.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "jobhall:", err)
		os.Exit(1)
	}
}

const usage = `usage: jobhall [serve|migrate|seed-demo] [flags]

  serve      run the server (the default)
  migrate    apply the database migrations and exit
  seed-demo  load the deterministic demo job-fair day and exit

Run "jobhall serve -h" for the flags; each has an environment variable.
`

// run is main without the process: tests call it with their own context,
// arguments and environment.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve", "migrate", "seed-demo":
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
	cfg, err := parseConfig("jobhall "+cmd, args, lookupEnv, stderr)
	if err != nil {
		return err
	}
	a, err := newApp(ctx, cfg, stdout, stderr)
	if err != nil {
		return err
	}
	defer a.close()
	switch cmd {
	case "migrate":
		return nil // newApp migrated
	case "seed-demo":
		return a.seedDemo(ctx)
	}
	if err := a.start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}
