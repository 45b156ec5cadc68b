package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/internal/runlock"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/containers"
	"github.com/aiuptime/aiuptime/stack/stackfile"
)

func init() { addCommand(newStackCmd) }

func newStackCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stack",
		Short: "Start or remove the stack under test",
	}
	cmd.AddCommand(newStackUpCmd(), newStackDownCmd())
	return cmd
}

// stackUpJSON is the `drill stack up --json` contract (DESIGN.md), plus
// run_id (for `drill stack down --run`) and capabilities.
type stackUpJSON struct {
	Gateway      string         `json:"gateway"`
	APIKey       string         `json:"api_key"`
	Models       []stackUpModel `json:"models"`
	ModelName    string         `json:"model_name"`
	RunID        string         `json:"run_id,omitempty"`
	Capabilities *stack.Setup   `json:"capabilities,omitempty"`
}

type stackUpModel struct {
	Name      string `json:"name"`
	URL       string `json:"url"`
	Container string `json:"container"`
}

func newStackUpCmd() *cobra.Command {
	var (
		asJSON    bool
		stackFile string
		runID     string
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the stack (embedded by default), print its endpoints, keep it running",
		Long: `Start the stack and leave it running. With --json, print one JSON object:
{"gateway": URL, "api_key": KEY, "models": [{"name", "url", "container"}], "model_name": NAME, "run_id": ID}.
The api_key is the gateway master key, printed because you asked for it; it is never logged.
Remove the stack with: drill stack down --run ID`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			start := time.Now()
			// A stack up is meant to outlive this process: `drill cleanup`
			// never removes it (the keep label), only `drill stack down`.
			copts := []containers.Option{containers.WithKeep(true)}
			if runID != "" {
				copts = append(copts, containers.WithRunID(runID))
			}
			openOpts := []stackfile.OpenOption{stackfile.WithLogger(logger), stackfile.WithContainerOptions(copts...)}
			var (
				st  stack.Stack
				err error
			)
			if stackFile == "" || stackFile == stackfile.Embedded {
				st, err = stackfile.Open(ctx, stackfile.Embedded, openOpts...)
			} else {
				f, lerr := stackfile.Load(stackFile)
				if lerr != nil {
					return exitcode.Wrap(exitcode.Usage, lerr)
				}
				learnStackFile(f)
				st, err = f.Open(ctx, openOpts...)
			}
			if st != nil {
				learnStack(st) // its keys never reach a log line (only --json prints the key)
			}
			if err != nil {
				if st != nil {
					if serr := st.Stop(context.WithoutCancel(ctx)); serr != nil {
						err = errors.Join(err, fmt.Errorf("cleanup after failed start: %w", serr))
					}
				}
				if ctx.Err() != nil {
					return exitcode.Wrap(exitcode.Aborted, err)
				}
				return exitcode.Wrap(exitcode.Harness, err)
			}
			out, err := stackUpOutput(ctx, st)
			if err != nil {
				return exitcode.Wrap(exitcode.Harness, err)
			}
			logger.Info("stack is up", "run", st.RunID(), "kind", st.Kind(), "took", time.Since(start).Round(time.Millisecond))
			if asJSON {
				return printJSON(cmd, out)
			}
			return printStackUp(cmd.OutOrStdout(), out)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the endpoints (and the gateway key) as JSON")
	cmd.Flags().StringVar(&stackFile, "stack", stackfile.Embedded, "stack file, or \"embedded\"")
	cmd.Flags().StringVar(&runID, "run", "", "run id (the aiuptime.run label); default random")
	return cmd
}

func stackUpOutput(ctx context.Context, st stack.Stack) (stackUpJSON, error) {
	out := stackUpJSON{APIKey: st.APIKey(), ModelName: st.ModelName(), RunID: st.RunID(), Models: []stackUpModel{}}
	svcs, err := st.Services(ctx)
	if err != nil {
		return out, err
	}
	for _, s := range svcs {
		switch s.Role {
		case stack.RoleGateway:
			out.Gateway = s.URL
		case stack.RoleModel:
			out.Models = append(out.Models, stackUpModel{Name: s.Name, URL: s.URL, Container: s.ContainerID})
		}
	}
	if sr, ok := st.(stack.SetupReporter); ok {
		c := sr.Setup()
		out.Capabilities = &c
	}
	return out, nil
}

func printStackUp(w io.Writer, o stackUpJSON) error {
	fmt.Fprintf(w, "run:      %s\ngateway:  %s (model %s)\n", o.RunID, o.Gateway, o.ModelName)
	for _, m := range o.Models {
		fmt.Fprintf(w, "%-9s %s (container %.12s)\n", m.Name+":", m.URL, m.Container)
	}
	if o.Capabilities != nil {
		fmt.Fprintf(w, "latency faults: %s\n", o.Capabilities.LatencyMechanism)
	}
	_, err := fmt.Fprintf(w, "api key:  run with --json to print it\nremove:   drill stack down --run %s\n", o.RunID)
	return err
}

func newStackDownCmd() *cobra.Command {
	var (
		runID  string
		asJSON bool
		force  bool
	)
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Remove every resource labelled aiuptime.run (or one run's, with --run)",
		Long: `Remove every container, network and volume labelled aiuptime.run (or one run's,
with --run), unmount the runs' data volumes and remove their run dirs.
A run a live drill holds (its run lock) is refused with exit 2, naming the
drill, unless --force.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !force {
				if err := refuseHeldRuns(runID); err != nil {
					return err
				}
			}
			ctx := context.WithoutCancel(cmd.Context())
			ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			defer cancel()
			rm, err := containers.Down(ctx, runID)
			if asJSON {
				if eerr := printJSON(cmd, rm); eerr != nil {
					return exitcode.Wrap(exitcode.Harness, eerr)
				}
			} else {
				w := cmd.OutOrStdout()
				for _, l := range []struct {
					kind  string
					items []string
				}{{"container", rm.Containers}, {"network", rm.Networks}, {"volume", rm.Volumes}, {"mount", rm.Mounts}, {"run dir", rm.RunDirs}} {
					for _, it := range l.items {
						fmt.Fprintf(w, "removed %s %s\n", l.kind, it)
					}
				}
				for _, d := range rm.Kept {
					fmt.Fprintf(w, "kept run dir %s: it holds no marker of its run\n", d)
				}
				fmt.Fprintf(w, "removed %d resources\n", rm.Count())
			}
			if err != nil {
				return exitcode.Wrap(exitcode.Harness, fmt.Errorf("stack down: %w", err))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&runID, "run", "", "remove only this run's resources")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print what was removed as JSON")
	cmd.Flags().BoolVar(&force, "force", false, "remove even runs a live drill holds")
	return cmd
}

// refuseHeldRuns refuses (exit 2) to remove a run a live drill holds:
// runID's, or with "" any.
func refuseHeldRuns(runID string) error {
	held, err := runlock.HeldRuns(chaos.StateDir())
	if err != nil {
		return exitcode.Wrap(exitcode.Harness, err)
	}
	var in []string
	for run, h := range held {
		if runID == "" || run == runID {
			in = append(in, fmt.Sprintf("run %s (%s)", run, h))
		}
	}
	if len(in) == 0 {
		return nil
	}
	sort.Strings(in)
	return exitcode.Wrap(exitcode.Usage, fmt.Errorf("stack down: %w: %s; wait for the drill, or --force", runlock.ErrHeld, strings.Join(in, "; ")))
}
