package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/aiuptime/aiuptime/calendar"
	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/notice"
	"github.com/aiuptime/aiuptime/plans"
)

func init() { addCommand(newNoticeCmd) }

func newNoticeCmd() *cobra.Command {
	var history []string
	var out, at string
	cmd := &cobra.Command{
		Use:   "notice PLAN [--history DIR...] [--out DIR]",
		Short: "Write the advance notice of a maintenance for customers, with the downtime earlier runs measured",
		Long: `Notice writes the advance notice customers get before a maintenance: what
will change (the plan's steps in words), when (the next occurrence of the
plan's maintenance window, in its time zone and UTC), the expected
user-visible downtime and degraded minutes, the risk, and how rollback works.

The expectation is learnt from the report.json files of earlier runs of the
same plan, given with --history (repeatable, or a comma list): each DIR is a
run's output directory, or a directory of run directories one or two levels
deep. Reports of other plans are skipped and counted. The downtime of a run
is the sum of its outages; the notice gives the median and the worst across
the runs, with their number and dates. Without an earlier run the notice
says so and predicts nothing.

Without --out the Markdown is printed; with --out DIR notice.md and a
self-contained notice.html are written there. PLAN is a file or the name of a
shipped plan.`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return plans.Names(), cobra.ShellCompDirectiveDefault
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return exitcode.Wrap(exitcode.Usage, fmt.Errorf("--at %q: want an RFC 3339 time such as 2026-12-01T09:00:00Z", at))
				}
				now = t
			}
			return runNotice(cmd, args[0], history, out, now)
		},
	}
	cmd.Flags().StringSliceVar(&history, "history", nil, "a run's output directory, or a directory of them (repeatable, or a comma list)")
	cmd.Flags().StringVar(&out, "out", "", "write notice.md and notice.html into this directory (default: print the Markdown)")
	cmd.Flags().StringVar(&at, "at", "", "write the notice as of this RFC 3339 time (default: now): the next window is counted from it")
	_ = cmd.MarkFlagDirname("history")
	_ = cmd.MarkFlagDirname("out")
	return cmd
}

// runNotice builds the notice of the plan arg from the history in dirs and
// prints or writes it.
func runNotice(cmd *cobra.Command, arg string, dirs []string, out string, now time.Time) error {
	p, err := loadPlan(arg)
	if err != nil {
		return err
	}
	learnPlan(p)
	win, critical, err := planWindow(p)
	if err != nil {
		return err
	}
	h, err := notice.LoadHistory(p.Name, dirs)
	if err != nil {
		return exitcode.Wrap(exitcode.Usage, err)
	}
	n := notice.Build(notice.Input{Plan: p, Window: win, Critical: critical, Now: now, History: h})
	stderr := cmd.ErrOrStderr()
	fmt.Fprintf(stderr, "%s of %s\n", count(len(h.Runs), "earlier run"), p.Name)
	if h.Skipped > 0 {
		fmt.Fprintf(stderr, "skipped %s of other plans\n", count(h.Skipped, "report"))
	}
	for _, d := range h.Empty {
		fmt.Fprintf(stderr, "no report.json under %s\n", d)
	}
	if out == "" {
		_, err := cmd.OutOrStdout().Write(append(n.Markdown(), '\n'))
		return err
	}
	if err := n.Write(out, redactor.Bytes); err != nil {
		return exitcode.Wrap(exitcode.Harness, err)
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "wrote %s %s\n", filepath.Join(out, notice.FileMarkdown), filepath.Join(out, notice.FileHTML))
	return err
}

// planWindow is the plan's maintenance window (nil: it has none) and
// whether it is critical (applied at once).
func planWindow(p *plan.Plan) (*calendar.Window, bool, error) {
	if p.Window == nil {
		return nil, false, nil
	}
	w, err := p.Window.Calendar()
	if err != nil {
		return nil, false, p.WindowErrorf("%v", err)
	}
	return &w, p.Window.Critical, nil
}

// count is "1 report" or "N reports".
func count(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
