package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/stack/containers"
)

func init() { addCommand(newDoctorCmd) }

// newDoctorCmd is `drill doctor [--run ID] [--state-dir DIR]`: audit for
// leftovers. Exit 0 clean, 4 when anything is found (something is left
// behind), 3 when the audit itself failed.
func newDoctorCmd() *cobra.Command {
	var runID, stateDir string
	var noDocker bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Audit for faults left behind (qdiscs, nftables, paused containers, toxics, volumes, stopped engines, journal)",
		Long: "doctor looks for anything a fault may have left behind and changes nothing: every fault kind audits\n" +
			"the services of each embedded stack on this host (or the one of --run).\n" +
			"With --run ID the stack of that run is expected to be up: only faults inside it are reported.\n" +
			"Without --run every container, network and volume labelled aiuptime.run is reported as a leftover too.\n" +
			"Exit codes: 0 clean; 4 findings (something is left behind: `drill cleanup`, `drill stack down`); 3 the audit failed.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if stateDir == "" {
				stateDir = chaos.StateDir()
			}
			fs, auditErr := journalFindings(stateDir, runID)
			if !noDocker {
				more, err := stackFindings(cmd.Context(), runID)
				fs, auditErr = append(fs, more...), errors.Join(auditErr, err)
			}
			out := cmd.OutOrStdout()
			for _, f := range fs {
				fmt.Fprintln(out, f.String())
			}
			if len(fs) > 0 {
				return exitcode.Wrap(exitcode.Revert, fmt.Errorf("doctor: %d finding(s): faults may be left behind", len(fs)))
			}
			if auditErr != nil {
				return exitcode.Wrap(exitcode.Harness, fmt.Errorf("doctor: audit incomplete: %w", auditErr))
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

// journalFindings are the records left in the journal (of runID, if set).
func journalFindings(stateDir, runID string) ([]chaos.Finding, error) {
	recs, err := chaos.ListRecords(chaos.JournalDir(stateDir))
	var fs []chaos.Finding
	for _, r := range recs {
		if runID != "" && r.RunID != "" && r.RunID != runID {
			continue
		}
		fs = append(fs, chaos.Finding{What: "journal", Where: r.Target, Run: r.RunID,
			Detail: fmt.Sprintf("%s (%s) injected %s by pid %d not reverted: run `drill cleanup` [%s]", r.Kind, r.Mechanism, r.Created.Format("2006-01-02T15:04:05Z"), r.Owner, r.ID)})
	}
	return fs, err
}

// stackFindings audits the services of every embedded stack on this host
// (or runID's) with every fault kind, and (without runID) reports each
// labelled resource as a leftover.
func stackFindings(ctx context.Context, runID string) ([]chaos.Finding, error) {
	runs := []string{runID}
	var fs []chaos.Finding
	if runID == "" {
		rs, err := containers.Resources(ctx, "")
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		runs = nil
		for _, r := range rs {
			fs = append(fs, chaos.Finding{What: "leftover-" + r.Kind, Where: r.Name, Run: r.Run, Detail: fmt.Sprintf("run %s %s: remove with `drill stack down`", r.Run, r.State)})
			if r.Kind == "container" && !seen[r.Run] {
				seen[r.Run] = true
				runs = append(runs, r.Run)
			}
		}
	}
	var errs []error
	for _, run := range runs {
		if rs, err := containers.Resources(ctx, run); err == nil && len(rs) == 0 {
			continue // the run's stack is gone: nothing of it to audit
		}
		st, err := attachRun(ctx, run, "")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		more, err := chaos.AuditServices(ctx, chaos.Env{Stack: st, Log: logger})
		fs, errs = append(fs, more...), append(errs, err)
		_ = st.Stop(ctx)
	}
	return fs, errors.Join(errs...)
}
