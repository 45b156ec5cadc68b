package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/container"
	"github.com/aiuptime/aiuptime/chaos/faults"
	"github.com/aiuptime/aiuptime/chaos/network"
	"github.com/aiuptime/aiuptime/stack"
)

func init() { addCommand(newFaultCmd) }

// newFaultCmd is the hidden `drill fault inject`: inject one fault on a
// service of a stack described as JSON, hold it, revert it. Tests SIGKILL it
// mid-fault to prove `drill cleanup` restores everything.
func newFaultCmd() *cobra.Command {
	root := &cobra.Command{Use: "fault", Short: "Inject a single fault (for tests and debugging)", Hidden: true}
	var kind, target, runID, servicesFile, paramsJSON, stateDir string
	var hold time.Duration
	var dryRun bool
	inject := &cobra.Command{
		Use:   "inject",
		Short: "Inject one fault, hold it, revert it; prints INJECTED when applied",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var svcs []stack.Service
			b, err := os.ReadFile(servicesFile)
			if err != nil {
				return withExit(ExitUsage, fmt.Errorf("--services: %w", err))
			}
			if err := json.Unmarshal(b, &svcs); err != nil {
				return withExit(ExitUsage, fmt.Errorf("--services: %w", err))
			}
			params := map[string]any{}
			if paramsJSON != "" {
				if err := json.Unmarshal([]byte(paramsJSON), &params); err != nil {
					return withExit(ExitUsage, fmt.Errorf("--params: %w", err))
				}
			}
			if err := faults.Validate(kind, params); err != nil {
				return withExit(ExitUsage, err)
			}
			cli, err := container.NewClient()
			if err != nil {
				return withExit(ExitHarness, err)
			}
			defer cli.Close()
			st := &faults.Attached{Run: runID, Svcs: svcs, Docker: cli}
			svc, err := st.Service(cmd.Context(), target)
			if err != nil {
				return withExit(ExitUsage, fmt.Errorf("--target: %w", err))
			}
			opts := []chaos.Option{chaos.WithLogger(logger)}
			if stateDir != "" {
				opts = append(opts, chaos.WithStateDir(stateDir))
			}
			j, err := chaos.OpenJournal(opts...)
			if err != nil {
				return withExit(ExitHarness, err)
			}
			caps, err := network.ProbeOnce(cmd.Context())
			if err != nil {
				logger.Warn("capability probe failed", "err", err)
			}
			f, err := faults.Build(kind, params, svc, faults.Env{Stack: st, Docker: cli, Caps: caps, Log: logger, DryRun: dryRun, Out: cmd.OutOrStdout(), Journal: j})
			if err != nil {
				return withExit(ExitUsage, err)
			}
			g, err := chaos.NewGuard(chaos.WithLogger(logger))
			if err != nil {
				return withExit(ExitHarness, err)
			}
			out := cmd.OutOrStdout()
			inj, err := g.Run(cmd.Context(), f, func(ctx context.Context) error {
				fmt.Fprintf(out, "INJECTED %s mechanism=%s\n", f.Name(), chaos.MechanismOf(f))
				return chaos.HoldFor(hold)(ctx)
			})
			if inj != nil {
				fmt.Fprintf(out, "inject_seconds=%.6f revert_seconds=%.6f mechanism=%s\n", inj.Injected.Seconds(), inj.Reverted.Seconds(), inj.Mechanism)
			}
			if chaos.IsRevertError(err) {
				return withExit(ExitRevert, err)
			}
			if err != nil && cmd.Context().Err() != nil {
				return withExit(ExitAborted, err)
			}
			if err != nil {
				return withExit(ExitHarness, err)
			}
			return nil
		},
	}
	f := inject.Flags()
	f.StringVar(&kind, "kind", "", "fault kind (see `drill list`)")
	f.StringVar(&target, "target", "", "service name")
	f.StringVar(&runID, "run", "", "run id of the stack (aiuptime.run label the target must carry)")
	f.StringVar(&servicesFile, "services", "", "JSON file with the stack's []stack.Service")
	f.StringVar(&paramsJSON, "params", "", "fault params as a JSON object")
	f.StringVar(&stateDir, "state-dir", "", "state directory for the journal")
	f.DurationVar(&hold, "hold", 10*time.Second, "how long to hold the fault before reverting")
	f.BoolVar(&dryRun, "dry-run", false, "print what would be done, change nothing")
	_ = inject.MarkFlagRequired("kind")
	_ = inject.MarkFlagRequired("target")
	_ = inject.MarkFlagRequired("services")
	root.AddCommand(inject)
	return root
}
