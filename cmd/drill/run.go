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

	"github.com/docker/docker/client"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/drill"
	"github.com/aiuptime/aiuptime/reports"
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
			return runPlan(cmd.Context(), cmd.OutOrStdout(), runArgs{
				plan: args[0], out: out, stackFile: stackFile, dryRun: dryRun, keepStack: keepStack, progress: progress,
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "reports/out", "directory for the reports (created if missing)")
	f.StringVar(&stackFile, "stack", "", "stack file (overrides the plan's stack; default: the embedded stack)")
	f.BoolVar(&dryRun, "dry-run", false, "print exactly what each step would do and change nothing")
	f.BoolVar(&keepStack, "keep-stack", false, "leave the embedded stack running afterwards ('drill stack down' removes it)")
	f.StringVar(&progress, "progress", "auto", "live progress view: auto (on a terminal), always, never")
	_ = cmd.MarkFlagDirname("out")
	_ = cmd.MarkFlagFilename("stack", "yaml", "yml")
	return cmd
}

type runArgs struct {
	plan, out, stackFile, progress string
	dryRun, keepStack              bool
}

func runPlan(ctx context.Context, stdout io.Writer, a runArgs) error {
	plan, err := loadPlan(a.plan)
	if err != nil {
		return err
	}
	if !a.dryRun {
		if err := checkOutDir(a.out); err != nil {
			return withExit(ExitUsage, err)
		}
	}
	sf := plan.StackFile()
	if a.stackFile != "" {
		sf = a.stackFile
	}
	if a.dryRun && sf == "" {
		// Starting containers is a change; describe the embedded stack's
		// steps without resolving them against live services.
		return dryRunEmbedded(stdout, plan)
	}

	log := logger.With("plan", plan.Name)
	var view *statusLine
	if a.progress == "always" || (a.progress == "auto" && isTerminal(os.Stderr)) {
		// Log lines go through the status line so they never run into it.
		view = &statusLine{w: os.Stderr}
		log = slog.New(slog.NewTextHandler(view, &slog.HandlerOptions{Level: slog.LevelInfo})).With("plan", plan.Name)
	}
	log.Info("opening stack", "stack", orEmbedded(sf))
	st, err := stackfile.Open(ctx, sf, stackfile.WithLogger(log))
	if st != nil && !a.keepStack {
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stackStopTimeout)
			defer cancel()
			if err := st.Stop(sctx); err != nil {
				log.Error("removing the stack", "err", err, "hint", "drill stack down --run "+st.RunID())
			}
		}()
	}
	if err != nil {
		if ctx.Err() != nil {
			return withExit(ExitAborted, fmt.Errorf("aborted while starting the stack: %w", err))
		}
		return withExit(ExitHarness, fmt.Errorf("stack %s: %w", orEmbedded(sf), err))
	}
	if a.keepStack && st.RunID() != "" {
		defer fmt.Fprintf(stdout, "stack kept running (run %s): remove it with 'drill stack down --run %s'\n", st.RunID(), st.RunID())
	}

	var docker *client.Client
	if st.Kind() != "endpoints" {
		docker, err = containers.Connect(ctx)
		if err != nil {
			return withExit(ExitHarness, err)
		}
		defer docker.Close()
	}
	opts := []drill.RunOption{drill.WithRunLogger(log), drill.WithDocker(docker), drill.WithToolVersion(version)}
	if a.dryRun {
		opts = append(opts, drill.WithDryRun(stdout))
	}
	r, err := drill.NewRunner(plan, st, opts...)
	if err != nil {
		return withExit(ExitHarness, err)
	}
	stopView := startProgress(ctx, r, view)
	rep, runErr := r.Run(ctx)
	stopView()
	if a.dryRun {
		return runErr
	}
	if rep == nil {
		return runErr
	}
	secrets := []string{st.APIKey()}
	if mk, ok := st.(interface{ ModelAPIKey() string }); ok {
		secrets = append(secrets, mk.ModelAPIKey())
	}
	if err := reports.Write(a.out, rep, reports.WithSecrets(secrets...)); err != nil {
		return withExit(ExitHarness, errors.Join(runErr, fmt.Errorf("write reports: %w", err)))
	}
	abs, _ := filepath.Abs(a.out)
	fmt.Fprintf(stdout, "%s\nverdict: %s  (grade %s)\nreport:  %s\n", reports.Summary(rep), strings.ToUpper(string(rep.Verdict)), rep.Grade, filepath.Join(abs, reports.FileHTML))
	return runErr
}

func orEmbedded(sf string) string {
	if sf == "" {
		return stackfile.Embedded
	}
	return sf
}

// checkOutDir creates dir and proves it is writable before anything starts.
func checkOutDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
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

// dryRunEmbedded prints the plan's steps for the embedded stack without
// starting it.
func dryRunEmbedded(w io.Writer, plan *drill.Plan) error {
	fmt.Fprintf(w, "plan %s: %d steps on the embedded stack (gateway, model-0, model-1; dry run: nothing is started or changed)\n", plan.Name, len(plan.Steps))
	for i, s := range plan.Steps {
		fmt.Fprintf(w, "%2d. %-32s %s", i+1, s.Name, s.Kind())
		switch s.Kind() {
		case drill.StepWait:
			fmt.Fprintf(w, " %s", s.Wait.D())
		case drill.StepFault:
			fmt.Fprintf(w, " %s on %s params %v", s.Fault, s.Target.String(), s.Params)
			if s.Duration > 0 {
				fmt.Fprintf(w, " for %s", s.Duration.D())
			}
		case drill.StepAwait:
			fmt.Fprintf(w, " %s within %s", s.Await.String(), s.Timeout.D())
		case drill.StepAction:
			fmt.Fprintf(w, " %s params %v", s.Action, s.Params)
		case drill.StepRevert:
			fmt.Fprintf(w, " the faults of %q", s.Revert)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "use --stack FILE with --dry-run to resolve targets and print the exact operations on a running stack")
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
