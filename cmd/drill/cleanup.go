package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	_ "github.com/aiuptime/aiuptime/backup/kube" // the undo of its helper pods, replayed by cleanup
	"github.com/aiuptime/aiuptime/chaos"
	_ "github.com/aiuptime/aiuptime/chaos/kinds" // every fault kind's reverters
	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/internal/runlock"
	"github.com/aiuptime/aiuptime/kube/local"
	"github.com/aiuptime/aiuptime/stack/containers"
	"github.com/aiuptime/aiuptime/stack/dockerhost" // also the container providers' undo functions and ownership proofs
)

func init() { addCommand(newCleanupCmd) }

// cleanupArgs are the flags of `drill cleanup`.
type cleanupArgs struct {
	stateDir, run   string
	force, noDocker bool
}

// newCleanupCmd is `drill cleanup [--state-dir DIR] [--run ID [--force]]`:
// revert the faults of drills that are gone and remove their embedded
// stacks.
func newCleanupCmd() *cobra.Command {
	var a cleanupArgs
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Revert the faults of drills that are gone (crash, SIGKILL) and remove their abandoned stacks",
		Long: "cleanup replays the revert journal (<state dir>/journal, default " + chaos.DefaultStateDir +
			" or $" + chaos.StateDirEnv + "): each record holds what is needed to undo one injection.\n" +
			"Only records whose drill is gone are reverted: a running drill's faults are left alone (--run ID --force\n" +
			"reverts one run's even so). Every record is checked first: it may act only on containers carrying its run's\n" +
			"labels, beneath the volumes they mount, and on what is named after it; a record that is unreadable, unknown\n" +
			"or fails its checks is moved to <journal>/quarantine with a .reason file. Chaos Mesh objects labelled\n" +
			"aiuptime.io/managed-by=aiuptime whose run is gone are deleted (in the clusters the journal names and the\n" +
			"local clusters of 'drill kube up'). Then the embedded stacks whose\n" +
			"drill is gone are removed (never one started by 'drill stack up' or kept with --keep-stack).\n" +
			"Exit codes: 0 all reverted or nothing to do; 4 a revert failed (the record is kept) or records were\n" +
			"quarantined; 3 the journal or Docker could not be read; 2 an unsafe state directory.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.force && a.run == "" {
				return exitcode.Wrap(exitcode.Usage, errors.New("--force needs --run ID: it reverts one run's faults while its drill may still run"))
			}
			if a.stateDir == "" {
				a.stateDir = chaos.StateDir()
			}
			return cleanup(cmd.Context(), cmd.OutOrStdout(), a)
		},
	}
	f := cmd.Flags()
	f.StringVar(&a.stateDir, "state-dir", "", "state directory holding the journal (default $"+chaos.StateDirEnv+" or "+chaos.DefaultStateDir+")")
	f.StringVar(&a.run, "run", "", "only the records (and the stack) of this run")
	f.BoolVar(&a.force, "force", false, "with --run: revert even while the run's drill still runs")
	f.BoolVar(&a.noDocker, "no-docker", false, "revert the journal only; leave the embedded stacks alone")
	return cmd
}

func cleanup(ctx context.Context, out io.Writer, a cleanupArgs) error {
	dir := chaos.JournalDir(a.stateDir)
	opts := []chaos.Option{chaos.WithLogger(logger)}
	if a.run != "" {
		opts = append(opts, chaos.WithRun(a.run))
	}
	if a.force {
		opts = append(opts, chaos.WithForce())
	}
	start := time.Now()
	res, err := chaos.Replay(ctx, dir, opts...)
	printReplay(out, res)
	meshErr := removeMeshLeftovers(ctx, out, a)
	stackErr := meshErr
	if !a.noDocker {
		stackErr = errors.Join(stackErr, removeAbandoned(ctx, out, a))
	}
	if a.run == "" {
		stackErr = errors.Join(stackErr, removeBrokenClusters(ctx, out, a.stateDir))
	}
	logger.Info("cleanup done", "reverted", len(res.Reverted), "failed", len(res.Failed), "live", len(res.Live),
		"quarantined", len(res.Quarantined), "took", time.Since(start).Round(time.Millisecond))
	switch {
	case len(res.Failed) > 0 || len(res.Quarantined) > 0:
		return exitcode.Wrap(exitcode.Revert, fmt.Errorf("cleanup: %w", errors.Join(err, stackErr)))
	case err != nil:
		if exitcode.Of(err, 0) != 0 {
			return fmt.Errorf("cleanup: %w", err) // e.g. an unsafe state directory: exit 2
		}
		return exitcode.Wrap(exitcode.Harness, fmt.Errorf("cleanup: %w", errors.Join(err, stackErr)))
	case stackErr != nil:
		return exitcode.Wrap(exitcode.Harness, fmt.Errorf("cleanup: %w", stackErr))
	}
	if len(res.Reverted)+len(res.Live) == 0 {
		fmt.Fprintf(out, "nothing to revert in %s\n", dir)
	}
	return nil
}

// printReplay writes one line per record: reverted, failed, left alone
// (live drill) or quarantined.
func printReplay(out io.Writer, res chaos.ReplayResult) {
	for _, r := range res.Reverted {
		fmt.Fprintf(out, "reverted     %-18s %-12s %-10s %s (run %s)\n", r.Kind, r.Target, r.Mechanism, r.ID, orDash(r.RunID))
		if r.Note != "" {
			fmt.Fprintf(out, "             note: %s\n", r.Note)
		}
	}
	for _, r := range res.Failed {
		fmt.Fprintf(out, "FAILED       %-18s %-12s %-10s %s (run %s): kept in the journal\n", r.Kind, r.Target, r.Mechanism, r.ID, orDash(r.RunID))
	}
	for _, r := range res.Live {
		fmt.Fprintf(out, "left alone   %-18s %-12s %-10s %s: run %s, its drill (pid %d) still runs (--run %s --force reverts it)\n",
			r.Kind, r.Target, r.Mechanism, r.ID, orDash(r.RunID), r.Owner, orDash(r.RunID))
	}
	for _, q := range res.Quarantined {
		fmt.Fprintf(out, "QUARANTINED  %s: %s\n", q.File, q.Reason)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// removeAbandoned removes the embedded stacks whose starting process is
// gone and that were not kept (or, with --run --force, that run's unkept
// stack); a stack a live drill holds locked is never removed.
func removeAbandoned(ctx context.Context, out io.Writer, a cleanupArgs) error {
	runs, err := containers.RunInfos(ctx)
	if errors.Is(err, dockerhost.ErrUnreachable) {
		fmt.Fprintf(out, "stacks not checked: %v\n", err) // no Docker here: no embedded stack either
		return nil
	}
	if err != nil {
		return fmt.Errorf("list embedded stacks: %w", err)
	}
	held, err := runlock.HeldRuns(a.stateDir)
	if err != nil {
		return err
	}
	var errs []error
	for _, ri := range runs {
		if a.run != "" && ri.Run != a.run {
			continue
		}
		forced := a.force && ri.Run == a.run && ri.Known && !ri.Keep
		if h, ok := held[ri.Run]; ok || !(ri.Abandoned() || forced) {
			if ok && (ri.Abandoned() || forced) {
				fmt.Fprintf(out, "kept stack   run %s: in use by %s\n", ri.Run, h)
			}
			continue
		}
		why := "gone"
		if ri.Owner.Alive() {
			why = "still running; --force"
		}
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
		rm, err := containers.Down(dctx, ri.Run)
		cancel()
		fmt.Fprintf(out, "removed stack run %s (started by %s, %s): %d containers, %d networks, %d volumes, %d run dirs\n",
			ri.Run, ri.Owner, why, len(rm.Containers), len(rm.Networks), len(rm.Volumes), len(rm.RunDirs))
		if err != nil {
			errs = append(errs, fmt.Errorf("remove the stack of run %s: %w", ri.Run, err))
		}
	}
	return errors.Join(errs...)
}

// removeBrokenClusters takes down the local Kubernetes clusters that are not
// whole (a component gone, a stray process): what a `drill kube up` that
// died half-way, or a crashed component, left behind. A whole running
// cluster was started on purpose and is left alone (`drill kube down`
// stops it); a dir without cluster.json is only reported (Down refuses
// what it cannot prove is a cluster's).
func removeBrokenClusters(ctx context.Context, out io.Writer, stateDir string) error {
	cs, err := local.AuditAll(filepath.Join(stateDir, "kube"))
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range cs {
		if !c.Leftover {
			continue
		}
		err := local.Down(ctx, c.Dir, local.WithLogger(logger))
		if errors.Is(err, local.ErrNotOurs) {
			fmt.Fprintf(out, "left alone   %s: %s\n", c.Dir, c.Detail)
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("local cluster %s: %w", c.Name, err))
			continue
		}
		fmt.Fprintf(out, "removed      local cluster %s (%s)\n", c.Name, c.Detail)
	}
	return errors.Join(errs...)
}
