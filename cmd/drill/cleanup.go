package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/aiuptime/aiuptime/chaos"
	_ "github.com/aiuptime/aiuptime/chaos/kinds" // every fault kind's reverters
	"github.com/aiuptime/aiuptime/exitcode"
	_ "github.com/aiuptime/aiuptime/stack/dockerhost" // the container providers' undo functions
)

func init() { addCommand(newCleanupCmd) }

// newCleanupCmd is `drill cleanup [--state-dir DIR]`: replay the revert
// journal after a crash. Exit 0 when everything was reverted (or nothing was
// left), 4 when a revert failed.
func newCleanupCmd() *cobra.Command {
	var stateDir string
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Revert every fault left in the journal (after a crash or SIGKILL)",
		Long: "cleanup replays the revert journal (<state dir>/journal, default " + chaos.DefaultStateDir +
			" or $" + chaos.StateDirEnv + "): each record holds what is needed to undo one injection.\n" +
			"Exit codes: 0 all reverted or nothing to do; 4 a revert failed (the record is kept); 3 the journal could not be read.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if stateDir == "" {
				stateDir = chaos.StateDir()
			}
			dir := chaos.JournalDir(stateDir)
			res, err := chaos.Replay(cmd.Context(), dir, chaos.WithLogger(logger))
			out := cmd.OutOrStdout()
			for _, r := range res.Reverted {
				fmt.Fprintf(out, "reverted  %-18s %-12s %-10s %s\n", r.Kind, r.Target, r.Mechanism, r.ID)
				if r.Note != "" {
					fmt.Fprintf(out, "          note: %s\n", r.Note)
				}
			}
			for _, r := range res.Failed {
				fmt.Fprintf(out, "FAILED    %-18s %-12s %-10s %s\n", r.Kind, r.Target, r.Mechanism, r.ID)
			}
			if len(res.Failed) > 0 {
				return exitcode.Wrap(exitcode.Revert, fmt.Errorf("cleanup: %w", err))
			}
			if err != nil {
				return exitcode.Wrap(exitcode.Harness, fmt.Errorf("cleanup: %w", err))
			}
			if len(res.Reverted) == 0 {
				fmt.Fprintf(out, "nothing to clean up in %s\n", dir)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "state directory holding the journal (default $"+chaos.StateDirEnv+" or "+chaos.DefaultStateDir+")")
	return cmd
}
