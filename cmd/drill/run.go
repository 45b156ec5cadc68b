package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/drill"
	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/hostcaps"
	"github.com/aiuptime/aiuptime/internal/runlock"
	"github.com/aiuptime/aiuptime/internal/statedir"
	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/containers"
	"github.com/aiuptime/aiuptime/stack/stackfile"
)

func init() { addCommand(newRunCmd) }

// stackStopTimeout bounds removing the embedded stack after a run.
const stackStopTimeout = 2 * time.Minute

func newRunCmd() *cobra.Command {
	var (
		out       string
		stackFile string
		dryRun    bool
		keepStack bool
		progress  string
		seed      uint64
		window    windowFlags
	)
	cmd := &cobra.Command{
		Use:   "run PLAN",
		Short: "Run a drill plan and write junit.xml, report.json, report.md, report.html and drill.prom",
		Long: `Run a drill plan against the embedded stack (default) or the stack a stack file
describes. Every fault is journaled before it is applied and reverted on success,
failure, Ctrl-C and SIGTERM; after a SIGKILL run 'drill cleanup'.

Exit codes: 0 pass, 1 SLO breached, 2 invalid plan or usage, 3 harness or injection
error, 4 a revert failed, 5 aborted by a stop condition or a signal.`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			switch progress {
			case "auto", "always", "never":
			default:
				return exitcode.Wrap(exitcode.Usage, fmt.Errorf("--progress %q: want auto, always or never", progress))
			}
			if !cmd.Flags().Changed("seed") {
				seed = drill.NewSeed()
			}
			return runPlan(cmd.Context(), cmd.OutOrStdout(), runArgs{
				plan: args[0], out: out, stackFile: stackFile, dryRun: dryRun, keepStack: keepStack, progress: progress, seed: seed,
				window: window, stderr: cmd.ErrOrStderr(),
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "reports/out", "directory for the reports (created if missing)")
	f.StringVar(&stackFile, "stack", "", "stack file (overrides the plan's stack; default: the embedded stack)")
	f.BoolVar(&dryRun, "dry-run", false, "print exactly what each step would do and change nothing")
	f.BoolVar(&keepStack, "keep-stack", false, "leave the embedded stack running afterwards ('drill stack down' removes it)")
	f.StringVar(&progress, "progress", "auto", "live progress view: auto (on a terminal), always, never")
	f.Uint64Var(&seed, "seed", 0, "seed of the choice among a role's services ({role: model, count: 1}); default: a random one, recorded in the report")
	window.register(f)
	_ = cmd.MarkFlagDirname("out")
	_ = cmd.MarkFlagFilename("stack", "yaml", "yml")
	return cmd
}

type runArgs struct {
	plan, out, stackFile, progress string
	dryRun, keepStack              bool
	seed                           uint64
	window                         windowFlags
	stderr                         io.Writer // says when report.pdf could not be written
}

func runPlan(ctx context.Context, stdout io.Writer, a runArgs) error {
	p, err := loadPlan(a.plan)
	if err != nil {
		return err
	}
	learnPlan(p)
	p.Seed = &a.seed
	win, proceed, err := windowGate(stdout, p, time.Now(), a.window, a.dryRun)
	if !proceed {
		return err
	}
	// Validation finishes before anything is created: the stack file and
	// the plan against it, then the report directory.
	f, kernel, err := loadStack(ctx, p, a.stackFile)
	if err != nil {
		return err
	}
	if !a.dryRun {
		// The state directory holds the journal and the locks: refuse an
		// unsafe one before the report directory is created.
		if err := statedir.Ensure(chaos.StateDir()); err != nil {
			return exitcode.Wrap(exitcode.Usage, err)
		}
		if err := checkOutDir(a.out); err != nil {
			return exitcode.Wrap(exitcode.Usage, err)
		}
		outLock, err := lockOutDir(a.out, p.Name)
		if err != nil {
			return err
		}
		defer outLock.Release()
	}
	learnStackFile(f)
	if a.dryRun && f.Kind == stackfile.KindContainers {
		// Starting containers is a change: describe the steps on the
		// stack the file would start, resolving nothing.
		return dryRunStarted(stdout, p, f, kernel)
	}
	log, view := runLogger(a.progress, p.Name)
	log.Info("opening stack", "stack", f.Path)
	st, err := f.Open(ctx, stackfile.WithLogger(log), stackfile.WithKernel(kernel),
		stackfile.WithContainerOptions(containers.WithKeep(a.keepStack)))
	learnStack(st)
	if st != nil && !a.keepStack {
		defer stopStack(ctx, st, log)
	}
	if err != nil {
		if ctx.Err() != nil {
			return exitcode.Wrap(exitcode.Aborted, fmt.Errorf("aborted while starting the stack: %w", err))
		}
		return exitcode.Wrap(exitcode.Harness, fmt.Errorf("stack %s: %w", f.Path, err))
	}
	if err := checkLive(ctx, p, st); err != nil {
		return err
	}
	if a.keepStack && st.RunID() != "" {
		defer fmt.Fprintf(stdout, "stack kept running (run %s): remove it with 'drill stack down --run %s'\n", st.RunID(), st.RunID())
	}
	opts := []drill.RunOption{drill.WithRunLogger(log), drill.WithKernel(kernel), drill.WithToolVersion(toolVersion()), drill.WithStackName(stackName(f))}
	if a.dryRun {
		opts = append(opts, drill.WithDryRun(stdout))
	}
	r, err := drill.NewRunner(p, st, opts...)
	if err != nil {
		return exitcode.Wrap(exitcode.Harness, err)
	}
	stopView := startProgress(ctx, r, view)
	rep, runErr := r.Run(ctx)
	stopView()
	if a.dryRun || rep == nil {
		return runErr
	}
	rep.Window = win
	if err := writeReports(ctx, a.stderr, a.out, rep, reports.WithRedactor(redactor)); err != nil {
		return exitcode.Wrap(exitcode.Harness, errors.Join(runErr, fmt.Errorf("write reports: %w", err)))
	}
	abs, _ := filepath.Abs(a.out)
	fmt.Fprintf(stdout, "%s\nverdict: %s  (grade %s)\nreport:  %s\n", reports.Summary(rep), strings.ToUpper(string(rep.Verdict)), rep.Grade, filepath.Join(abs, reports.FileHTML))
	return runErr
}

// runLogger is the run's logger and, when progress is shown, the status
// line its log lines go through so that they never run into it.
func runLogger(progress, plan string) (*slog.Logger, *statusLine) {
	if progress == "always" || (progress == "auto" && isTerminal(os.Stderr)) {
		view := &statusLine{w: redactor.Writer(os.Stderr)}
		return newLogger(view, slog.LevelInfo).With("plan", plan), view
	}
	return logger.With("plan", plan), nil
}

// stopStack removes what the stack created (a no-op for attached stacks).
func stopStack(ctx context.Context, st stack.Stack, log *slog.Logger) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stackStopTimeout)
	defer cancel()
	if err := st.Stop(sctx); err != nil {
		log.Error("removing the stack", "err", err, "hint", "drill stack down --run "+st.RunID())
	}
}

// lockOutDir keeps two drills from writing one report directory (two
// `make drill` in one checkout): the second is refused with exit 2 before
// anything starts. Drills with their own directories run side by side.
func lockOutDir(dir, plan string) (*runlock.Lock, error) {
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return nil, exitcode.Wrap(exitcode.Usage, fmt.Errorf("--out %s: %w", dir, err))
	}
	return runlock.Acquire(chaos.StateDir(), "out-"+abs, runlock.Holder{Stack: "report directory " + abs, Plan: plan})
}

// checkOutDir creates dir and proves it is writable, and that the reports
// may replace what is there (reports.CheckDir), before anything starts.
func checkOutDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--out %s: %w", dir, err)
	}
	if err := reports.CheckDir(dir); err != nil {
		return fmt.Errorf("--out %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("--out %s is not writable: %w", dir, err)
	}
	name := f.Name()
	_ = f.Close()
	return os.Remove(name)
}

// checkLive checks the plan's targets against the services the opened
// stack really has (an attached deployment names them only now), before
// anything acts on it: a target that is not there is exit 2.
func checkLive(ctx context.Context, p *plan.Plan, st stack.Stack) error {
	sh, err := drill.ShapeOf(ctx, st)
	if err != nil {
		return exitcode.Wrap(exitcode.Harness, err)
	}
	if len(sh.Services) == 0 {
		return exitcode.Wrap(exitcode.Usage, fmt.Errorf("the %s stack has no services (nothing with a role matches it): nothing to drill", sh.Kind))
	}
	return p.CheckStack(sh)
}

// dryRunStarted prints the plan's steps on the stack the file would start,
// without starting it: its services and where each step would act, with
// the services the run's seed picks for shares of a role.
func dryRunStarted(w io.Writer, p *plan.Plan, f *stackfile.File, k hostcaps.Kernel) error {
	sh := f.Shape(k)
	fmt.Fprintf(w, "plan %s: %d steps on a new %s stack of %s (dry run: nothing is started or changed)\n",
		p.Name, len(p.Steps), sh.Kind, strings.Join(sh.Names(), ", "))
	fmt.Fprintf(w, "seed %d: shares of a role pick the same services again with --seed %d\n", *p.Seed, *p.Seed)
	for i, s := range p.Steps {
		fmt.Fprintf(w, "%2d. %-32s %s", i+1, s.Name, s.Kind())
		target := ""
		if s.Target != nil {
			names, err := s.Target.Pick(sh.Services, *p.Seed, s.Name)
			if err != nil {
				return exitcode.Wrap(exitcode.Usage, fmt.Errorf("step %q: %w", s.Name, err))
			}
			target = strings.Join(names, ",")
			if len(s.Target.Names) == 0 {
				target += " (" + s.Target.String() + ")"
			}
		}
		switch s.Kind() {
		case plan.StepWait:
			fmt.Fprintf(w, " %s", s.Wait.D())
		case plan.StepFault:
			fmt.Fprintf(w, " %s on %s params %v", s.Fault, target, s.Params)
			if s.Duration > 0 {
				fmt.Fprintf(w, " for %s", s.Duration.D())
			}
		case plan.StepAwait:
			fmt.Fprintf(w, " %s within %s", s.Await.String(), s.Timeout.D())
			if target != "" {
				fmt.Fprintf(w, " on %s", target)
			}
		case plan.StepAction:
			if target == "" {
				target = "(default)"
			}
			fmt.Fprintf(w, " %s on %s params %v", s.Action, target, s.Params)
		case plan.StepRevert:
			fmt.Fprintf(w, " the faults of %q", s.Revert)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "attach to a running stack (--stack FILE of kind docker) with --dry-run to print the exact operations")
	return nil
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// statusLine shares stderr between the live status line and log lines: a
// log line first clears the status line, which the next tick redraws.
type statusLine struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *statusLine) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := io.WriteString(s.w, "\r\033[K"); err != nil {
		return 0, err
	}
	return s.w.Write(p)
}

func (s *statusLine) draw(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprint(s.w, "\r\033[K"+line)
}

// startProgress draws a live status line on sl (nil: no view) until the
// returned stop function is called. Off a terminal, the runner's line logs
// are the progress.
func startProgress(ctx context.Context, r *drill.Runner, sl *statusLine) func() {
	if sl == nil {
		return func() {}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				sl.draw("")
				return
			case <-ctx.Done():
				sl.draw("")
				return
			case <-t.C:
				p := r.Progress()
				faults := "none"
				if len(p.Faults) > 0 {
					faults = strings.Join(p.Faults, ", ")
				}
				state := "up"
				if p.InOutage {
					state = "OUTAGE"
				}
				sl.draw(fmt.Sprintf("[%d/%d] %s | %s | avail %.2f%% (%d req) | p95 %s | %s | faults: %s",
					p.StepIndex, p.Steps, p.Step, p.Elapsed.Round(time.Second), p.Availability*100, p.Requests,
					p.P95.Round(time.Millisecond), state, faults))
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// stackName names the stack of f for the report: its kind, and the file's
// base name unless it is the embedded default.
func stackName(f *stackfile.File) string {
	if f.Path == "" || f.Path == stackfile.Embedded {
		return stackfile.Embedded
	}
	return f.Kind + " " + filepath.Base(f.Path)
}
