// Command jobhall is the whole platform in one binary: pages, booking API,
// signalling and the SFU. Subcommands: serve (default), migrate, seed-demo.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"jobhall/booking"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "jobhall:", err)
		os.Exit(1)
	}
}

const usage = `usage: jobhall [serve|migrate|seed-demo|schedule] [flags]

  serve      run the server (the default)
  migrate    apply the database migrations and exit
  seed-demo  load the deterministic demo job-fair day and exit
  schedule   -fair N [-dry-run] [-max-per-seeker 3]: auto-schedule a fair's
             registered seekers into interviews (written as bookings in one
             transaction; -dry-run rolls it back) and exit

Run "jobhall serve -h" for the flags; each has an environment variable.
`

// run is main without the process: tests call it with their own context,
// arguments and environment.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var sched scheduleArgs
	if cmd == "schedule" {
		var err error
		if sched, args, err = parseScheduleArgs(args); err != nil {
			fmt.Fprint(stderr, usage)
			return err
		}
	}
	switch cmd {
	case "serve", "migrate", "seed-demo", "schedule":
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
	case "schedule":
		return runSchedule(ctx, a, sched, stdout)
	}
	if err := a.start(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		// In a cluster, SIGTERM drains first so a rolling restart loses
		// no session: the rooms here finish, new ones go elsewhere.
		if a.node != nil && cfg.DrainTimeout > 0 {
			a.startDrain("signal")
			<-a.drained()
		}
	case <-a.drained(): // drained on the admin endpoint
	}
	return nil
}

// scheduleArgs are the schedule subcommand's own flags.
type scheduleArgs struct {
	fair         int64
	dryRun       bool
	maxPerSeeker int
}

// parseScheduleArgs takes -fair, -dry-run and -max-per-seeker out of args;
// the rest are the usual configuration flags (database and so on).
func parseScheduleArgs(args []string) (scheduleArgs, []string, error) {
	var sa scheduleArgs
	var rest []string
	for i := 0; i < len(args); i++ {
		name, val, hasVal := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if !strings.HasPrefix(args[i], "-") {
			rest = append(rest, args[i])
			continue
		}
		switch name {
		case "dry-run":
			sa.dryRun = true
			if hasVal {
				b, err := strconv.ParseBool(val)
				if err != nil {
					return sa, nil, fmt.Errorf("-dry-run: %w", err)
				}
				sa.dryRun = b
			}
		case "fair", "max-per-seeker":
			if !hasVal {
				if i+1 == len(args) {
					return sa, nil, fmt.Errorf("-%s needs a value", name)
				}
				i++
				val = args[i]
			}
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 1 {
				return sa, nil, fmt.Errorf("-%s must be a positive integer", name)
			}
			switch {
			case name == "fair":
				sa.fair = n
			case n > 10:
				return sa, nil, errors.New("-max-per-seeker must be 1 to 10")
			default:
				sa.maxPerSeeker = int(n)
			}
		default:
			rest = append(rest, args[i])
		}
	}
	if sa.fair == 0 {
		return sa, nil, errors.New("schedule needs -fair N")
	}
	return sa, rest, nil
}

// runSchedule runs the auto-scheduler once, printing progress lines.
func runSchedule(ctx context.Context, a *app, sa scheduleArgs, stdout io.Writer) error {
	start := time.Now()
	lastPhase := ""
	lastPct := -1
	out, err := booking.ScheduleFair(ctx, a.pool, sa.fair, booking.ScheduleOptions{DryRun: sa.dryRun, MaxPerSeeker: sa.maxPerSeeker,
		Actor: "cli", Logger: a.log, Progress: func(phase string, done, total int) {
			pct := 100
			if total > 0 {
				pct = done * 100 / total
			}
			if phase != lastPhase || pct/10 != lastPct/10 {
				fmt.Fprintf(stdout, "[%6.1fs] %-9s %3d%% (%d/%d)\n", time.Since(start).Seconds(), phase, pct, done, total)
				lastPhase, lastPct = phase, pct
			}
		}})
	if err != nil {
		return fmt.Errorf("schedule fair %d: %w", sa.fair, err)
	}
	r := out.Report
	verb := "written"
	if out.DryRun {
		verb = "checked and rolled back (dry run)"
	}
	fmt.Fprintf(stdout, "run %d, fair %d: %d registered seekers (%d not visible to employers, %d no-shows), %d booths, %d existing bookings kept\n",
		out.RunID, out.FairID, out.Seekers, out.NotVisible, out.NoShows, r.Booths, out.Fixed)
	fmt.Fprintf(stdout, "%d new interviews %s; %d seekers have at least one; free lane slots %d, demand %d; score %.1f of flow bound %.1f (gap %.2f%%); unserved %d\n",
		r.Interviews, verb, r.SeekersWithOne, r.FreeLaneSlots, r.Demand, r.Score, r.FlowScore, 100*r.Gap, len(r.Unserved))
	fmt.Fprintf(stdout, "time: load %d ms, choices %d ms, solve %d ms, write %d ms\n", out.Millis["load"], out.Millis["choices"], out.Millis["solve"], out.Millis["write"])
	return nil
}
