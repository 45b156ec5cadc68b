package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/internal/runlock"
	"github.com/aiuptime/aiuptime/internal/statedir"
	"github.com/aiuptime/aiuptime/kube/local"
	"github.com/aiuptime/aiuptime/stack/containers"
)

func init() { addCommand(newDoctorCmd) }

// newDoctorCmd is `drill doctor [--run ID] [--state-dir DIR]`: audit for
// leftovers, grouped by run. Exit 0 clean (or only live drills' faults),
// 4 when anything is left behind by a drill that is gone, 3 when the audit
// itself failed.
func newDoctorCmd() *cobra.Command {
	var runID, stateDir string
	var noDocker bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Audit for faults left behind (qdiscs, nftables, paused containers, toxics, volumes, stopped engines, Chaos Mesh objects, journal), by run",
		Long: "doctor looks for anything a fault may have left behind and changes nothing: every fault kind audits\n" +
			"the services of each embedded stack on this host (or the one of --run). Findings are grouped by run, and\n" +
			"each run says whether a drill still runs it (it holds the run's lock or owns journal records): a live\n" +
			"drill's faults are in force on purpose.\n" +
			"With --run ID the stack of that run is expected to be up: only faults inside it are reported.\n" +
			"Without --run every container, network and volume labelled aiuptime.run is reported as a leftover too.\n" +
			"Exit codes: 0 clean, or findings of live runs only; 4 findings of runs that are gone (`drill cleanup`,\n" +
			"`drill stack down`); 3 the audit failed.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if stateDir == "" {
				stateDir = chaos.StateDir()
			}
			// Doctor changes nothing, so an unsafe state dir is reported,
			// not refused: the journal in it may have been tampered with.
			if err := statedir.Check(stateDir); errors.Is(err, statedir.ErrUnsafe) {
				fmt.Fprintf(cmd.ErrOrStderr(), "doctor: WARNING: %v\n", err)
			}
			fs, auditErr := journalFindings(stateDir, runID)
			mesh, err := meshFindings(cmd.Context(), stateDir, runID)
			fs, auditErr = append(fs, mesh...), errors.Join(auditErr, err)
			var stacks []containers.RunInfo
			if !noDocker {
				more, err := stackFindings(cmd.Context(), runID)
				fs, auditErr = append(fs, more...), errors.Join(auditErr, err)
				stacks, err = containers.RunInfos(cmd.Context())
				auditErr = errors.Join(auditErr, err)
			}
			runs := groupByRun(fs, liveRuns(stateDir), stacks)
			left := printRuns(cmd.OutOrStdout(), runs)
			clusters, err := local.AuditAll(filepath.Join(stateDir, "kube"))
			auditErr = errors.Join(auditErr, err)
			left += printClusters(cmd.OutOrStdout(), clusters)
			if left > 0 {
				return exitcode.Wrap(exitcode.Revert, fmt.Errorf("doctor: %d finding(s) of runs that are gone: faults may be left behind", left))
			}
			if auditErr != nil {
				return exitcode.Wrap(exitcode.Harness, fmt.Errorf("doctor: audit incomplete: %w", auditErr))
			}
			if len(fs) == 0 && len(clusters) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "doctor: clean")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&runID, "run", "", "audit the running stack of this run id (its containers are expected)")
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "state directory holding the journal (default $"+chaos.StateDirEnv+" or "+chaos.DefaultStateDir+")")
	cmd.Flags().BoolVar(&noDocker, "no-docker", false, "audit only the journal")
	return cmd
}

// journalFindings are the records left in the journal (of runID, if set),
// the files in it that are no readable record, and the quarantined ones.
func journalFindings(stateDir, runID string) ([]chaos.Finding, error) {
	dir := chaos.JournalDir(stateDir)
	scan, err := chaos.ScanJournal(dir)
	var fs []chaos.Finding
	for _, r := range scan.Records {
		if runID != "" && r.RunID != "" && r.RunID != runID {
			continue
		}
		who := fmt.Sprintf("pid %d", r.Owner)
		if r.OwnerAlive() {
			who += " (still running)"
		}
		fs = append(fs, chaos.Finding{What: "journal", Where: r.Target, Run: r.RunID,
			Detail: fmt.Sprintf("%s (%s) injected %s by %s not reverted [%s]", r.Kind, r.Mechanism, r.Created.Format("2006-01-02T15:04:05Z"), who, r.ID)})
	}
	for _, b := range scan.Bad {
		fs = append(fs, chaos.Finding{What: "journal-unreadable", Where: b.Name, Detail: b.Err.Error() + ": `drill cleanup` quarantines it"})
	}
	quarantined, qerr := chaos.ScanJournal(chaos.QuarantineDir(dir))
	for _, r := range quarantined.Records {
		if runID == "" || r.RunID == runID {
			fs = append(fs, chaos.Finding{What: "quarantined", Where: r.Target, Run: r.RunID,
				Detail: fmt.Sprintf("%s (%s) [%s] was not replayed: see %s.json.reason; what it injected may be in force", r.Kind, r.Mechanism, r.ID, r.ID)})
		}
	}
	if runID == "" {
		for _, b := range quarantined.Bad {
			fs = append(fs, chaos.Finding{What: "quarantined", Where: b.Name, Detail: "unreadable record, kept in " + chaos.QuarantineDir(dir)})
		}
	}
	return fs, errors.Join(err, qerr)
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

// runView is what doctor knows of one run.
type runView struct {
	run      string
	live     string // who keeps it live ("" when nobody does)
	stack    string // what is known of its embedded stack
	findings []chaos.Finding
}

// liveRuns maps each run a live drill holds (its lock, or journal records
// of a live owner) to words saying who.
func liveRuns(stateDir string) map[string]string {
	out := map[string]string{}
	held, _ := runlock.HeldRuns(stateDir)
	for run, h := range held {
		out[run] = "a drill holds it: " + h.String()
	}
	recs, _ := chaos.ListRecords(chaos.JournalDir(stateDir))
	for _, r := range recs {
		if _, ok := out[r.RunID]; !ok && r.RunID != "" && r.OwnerAlive() {
			out[r.RunID] = fmt.Sprintf("its faults' owner runs: pid %d", r.Owner)
		}
	}
	return out
}

// groupByRun sorts findings into runs, live ones first.
func groupByRun(fs []chaos.Finding, live map[string]string, stacks []containers.RunInfo) []*runView {
	byRun := map[string]*runView{}
	get := func(run string) *runView {
		if v, ok := byRun[run]; ok {
			return v
		}
		v := &runView{run: run, live: live[run]}
		byRun[run] = v
		return v
	}
	for _, f := range fs {
		v := get(f.Run)
		v.findings = append(v.findings, f)
	}
	for _, ri := range stacks {
		v := get(ri.Run)
		switch {
		case ri.Keep:
			v.stack = "stack kept (drill stack up / --keep-stack): `drill stack down --run " + ri.Run + "` removes it"
		case !ri.Known:
			v.stack = "stack of an older version (no owner recorded)"
		case ri.Owner.Alive():
			v.stack = "stack started by " + ri.Owner.String() + ", still running"
		default:
			v.stack = "stack abandoned (started by " + ri.Owner.String() + ", gone): `drill cleanup` removes it"
		}
	}
	out := make([]*runView, 0, len(byRun))
	for _, v := range byRun {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].live != "") != (out[j].live != "") {
			return out[i].live != ""
		}
		return out[i].run < out[j].run
	})
	return out
}

// printRuns writes the runs and their findings and returns how many
// findings belong to runs that are not live.
func printRuns(w io.Writer, runs []*runView) int {
	left := 0
	for _, v := range runs {
		if len(v.findings) == 0 && v.live == "" {
			continue
		}
		state := "not live"
		if v.live != "" {
			state = "LIVE: " + v.live
		} else {
			left += len(v.findings)
		}
		name := v.run
		if name == "" {
			name = "(no run)"
		}
		fmt.Fprintf(w, "run %s: %s\n", name, state)
		if v.stack != "" {
			fmt.Fprintf(w, "  %s\n", v.stack)
		}
		for _, f := range v.findings {
			fmt.Fprintln(w, "  "+strings.TrimRight(f.String(), " "))
		}
	}
	if n := countFindings(runs); left == 0 && n > 0 {
		fmt.Fprintf(w, "doctor: %d finding(s), all of live runs (in force on purpose); nothing left behind by runs that are gone\n", n)
	}
	return left
}

func countFindings(runs []*runView) int {
	n := 0
	for _, v := range runs {
		n += len(v.findings)
	}
	return n
}

// printClusters writes one line per local Kubernetes cluster (`drill kube
// up`) and returns how many are left behind rather than kept: a whole
// running cluster was started on purpose, one that is not whole (a
// component gone, a stray process, no cluster.json) is a leftover.
func printClusters(w io.Writer, cs []local.Audit) int {
	left := 0
	for _, c := range cs {
		fmt.Fprintf(w, "local cluster %s (%s): %s\n", c.Name, c.Dir, c.Detail)
		if c.Leftover {
			left++
		}
	}
	return left
}
