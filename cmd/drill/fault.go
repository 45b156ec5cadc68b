package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/hostcaps"
	"github.com/aiuptime/aiuptime/internal/runlock"
	"github.com/aiuptime/aiuptime/stack"
)

func init() { addCommand(newFaultCmd) }

// newFaultCmd is the hidden `drill fault inject`: inject one fault on a
// service of a running stack (an embedded run or a stack file), hold it,
// revert it. Tests SIGKILL it mid-fault to prove `drill cleanup` restores
// everything.
func newFaultCmd() *cobra.Command {
	root := &cobra.Command{Use: "fault", Short: "Inject a single fault (for tests and debugging)", Hidden: true}
	var (
		at                       attachFlags
		kind, target, paramsJSON string
		stateDir                 string
		hold                     time.Duration
		dryRun                   bool
	)
	inject := &cobra.Command{
		Use:   "inject --kind KIND --target SERVICE (--run ID | --stack FILE)",
		Short: "Inject one fault, hold it, revert it; prints INJECTED when applied",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := chaos.LookupKind(kind)
			if err != nil {
				return exitcode.Wrap(exitcode.Usage, fmt.Errorf("--kind: %w", err))
			}
			params := map[string]any{}
			if paramsJSON != "" {
				if err := json.Unmarshal([]byte(paramsJSON), &params); err != nil {
					return exitcode.Wrap(exitcode.Usage, fmt.Errorf("--params: %w", err))
				}
			}
			spec, err := k.Decode(params)
			if err != nil {
				return exitcode.Wrap(exitcode.Usage, err)
			}
			ctx := cmd.Context()
			st, err := at.open(ctx)
			if err != nil {
				return err
			}
			defer st.Stop(context.WithoutCancel(ctx))
			if stateDir == "" {
				stateDir = chaos.StateDir()
			}
			// Like a drill: a second one on the same stack is refused (exit 2).
			runID, lock, err := runlock.ForStack(stateDir, st, "f", "drill fault inject --kind "+kind)
			if err != nil {
				return err
			}
			defer lock.Release()
			id, _ := stack.IdentityOf(st)
			j, err := chaos.OpenJournal(chaos.WithLogger(logger), chaos.WithStateDir(stateDir), chaos.WithRunLabels(runID, id.Labels))
			if err != nil {
				return exitcode.Wrap(exitcode.Of(err, exitcode.Harness), err)
			}
			kernel, err := hostcaps.Probe(ctx)
			if err != nil {
				logger.Warn("kernel capability probe failed", "err", err)
			}
			var f chaos.Fault = chaos.Plan(chaos.Env{Stack: st, Kernel: kernel, Journal: j, Log: logger, RunID: runID}, spec, target)
			if dryRun {
				f = chaos.DryRun(f, cmd.OutOrStdout())
			}
			return injectAndHold(ctx, cmd, f, hold)
		},
	}
	f := inject.Flags()
	at.add(inject)
	f.StringVar(&kind, "kind", "", "fault kind (see `drill list`)")
	f.StringVar(&target, "target", "", "service name")
	f.StringVar(&paramsJSON, "params", "", "fault params as a JSON object")
	f.StringVar(&stateDir, "state-dir", "", "state directory for the journal")
	f.DurationVar(&hold, "hold", 10*time.Second, "how long to hold the fault before reverting")
	f.BoolVar(&dryRun, "dry-run", false, "print what would be done, change nothing")
	_ = inject.MarkFlagRequired("kind")
	_ = inject.MarkFlagRequired("target")
	root.AddCommand(inject)
	return root
}

// injectAndHold injects f under a guard, prints INJECTED, holds it and
// reverts it: on the hold's end, a signal, or an error.
func injectAndHold(ctx context.Context, cmd *cobra.Command, f chaos.Fault, hold time.Duration) error {
	g, err := chaos.NewGuard(chaos.WithLogger(logger))
	if err != nil {
		return exitcode.Wrap(exitcode.Harness, err)
	}
	out := cmd.OutOrStdout()
	inj, err := g.Run(ctx, f, func(ctx context.Context) error {
		fmt.Fprintf(out, "INJECTED %s mechanism=%s\n", f.Name(), chaos.MechanismOf(f))
		return chaos.HoldFor(hold)(ctx)
	})
	if inj != nil {
		fmt.Fprintf(out, "inject_seconds=%.6f revert_seconds=%.6f mechanism=%s\n", inj.Injected.Seconds(), inj.Reverted.Seconds(), inj.Mechanism)
	}
	switch {
	case chaos.IsRevertError(err):
		return exitcode.Wrap(exitcode.Revert, err)
	case err != nil && ctx.Err() != nil:
		return exitcode.Wrap(exitcode.Aborted, err)
	}
	return exitcode.Wrap(exitcode.Harness, err)
}
