package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/container"
	"github.com/aiuptime/aiuptime/chaos/faults"
)

func init() { addCommand(newDoctorCmd) }

// newDoctorCmd is `drill doctor [--run ID] [--state-dir DIR]`: audit for
// leftovers. Exit 0 clean, 4 (ExitRevert: something is left behind) when
// anything is found, 3 (ExitHarness) when the audit itself failed.
func newDoctorCmd() *cobra.Command {
	var runID, stateDir string
	var noDocker bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Audit for faults left behind (qdiscs, nftables, paused containers, toxics, volumes, stopped engines, journal)",
		Long: "doctor looks for anything a fault may have left behind and changes nothing.\n" +
			"With --run ID the stack of that run is expected to be up: only faults inside it are reported.\n" +
			"Without --run every container, network and volume labelled aiuptime.run is reported as a leftover too.\n" +
			"Exit codes: 0 clean; 4 findings (something is left behind: `drill cleanup`, `drill stack down`); 3 the audit failed.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := faults.AuditOptions{StateDir: stateDir, RunID: runID}
			var auditErr error
			cli, err := container.NewClient()
			if noDocker {
				cli, err = nil, nil
			}
			if err != nil {
				auditErr = err
				cli = nil
			}
			if cli != nil {
				if _, err := cli.Ping(cmd.Context()); err != nil {
					auditErr = fmt.Errorf("docker: %w", err)
					cli = nil
				} else {
					defer cli.Close()
				}
			}
			fs, err := faults.Audit(cmd.Context(), cli, o)
			auditErr = errors.Join(auditErr, err)
			out := cmd.OutOrStdout()
			for _, f := range fs {
				fmt.Fprintln(out, f.String())
			}
			if len(fs) > 0 {
				return withExit(ExitRevert, fmt.Errorf("doctor: %d finding(s): faults may be left behind", len(fs)))
			}
			if auditErr != nil {
				return withExit(ExitHarness, fmt.Errorf("doctor: audit incomplete: %w", auditErr))
			}
			fmt.Fprintln(out, "doctor: clean")
			return nil
		},
	}
	cmd.Flags().StringVar(&runID, "run", "", "audit the running stack of this run id (its containers are expected)")
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "state directory holding the journal (default $"+chaos.StateDirEnv+" or "+chaos.DefaultStateDir+")")
	cmd.Flags().BoolVar(&noDocker, "no-docker", false, "audit only the journal")
	return cmd
}
