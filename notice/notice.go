// Package notice writes the advance notice of a maintenance for customers:
// what will change, when (the plan's next maintenance window), the
// user-visible downtime and the degraded time to expect, the risk, and how
// rollback works.
//
// The expectations are learnt from the report.json files of earlier runs of
// the same plan, never guessed: with no earlier run the notice says so and
// predicts nothing. The package reads plans and reports and renders Markdown
// and HTML; it starts nothing.
package notice

import (
	"time"

	"github.com/aiuptime/aiuptime/calendar"
	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/reports"
)

// Input is what a notice is built from.
type Input struct {
	// Plan is the plan the maintenance runs.
	Plan *plan.Plan
	// Window is the plan's maintenance window; nil when the plan has none.
	Window *calendar.Window
	// Critical marks an emergency change: applied at once, whatever the window.
	Critical bool
	// Now is when the notice is written; the next window is the one in
	// force at Now or else the next to open.
	Now time.Time
	// History holds the earlier runs of the plan (LoadHistory).
	History History
}

// Notice is an advance notice, ready to render.
type Notice struct {
	Plan        string
	Description string
	// Written is when the notice was written (Input.Now).
	Written time.Time
	// Changes are the plan's steps in words, in order.
	Changes []Change
	// When says when the change happens, one line each.
	When []string
	// NextWindow is the window's next occurrence; nil without a window, for
	// a window that is always open, or for a critical change.
	NextWindow *calendar.Span
	// Expected is what earlier runs measured; nil without history.
	Expected *Expected
	// Risk is the risk, from the history and from the plan.
	Risk Risk
	// Rollback says how each change is undone, one line each.
	Rollback []string
	// Skipped counts report.json files of other plans the history held;
	// SkippedPlans names those plans.
	Skipped      int
	SkippedPlans []string
	// Empty lists history directories that held no report.json.
	Empty []string
}

// Change is one step of the plan in words.
type Change struct {
	Step string
	Text string
}

// Expected is the downtime and degraded time earlier runs measured.
type Expected struct {
	// Runs are the earlier runs, oldest first.
	Runs []RunStat
	// Downtime is the user-visible downtime per run in seconds: the sum of
	// the durations of the run's outages.
	Downtime Stat
	// Degraded is the degraded time per run in seconds (see Degraded).
	Degraded Stat
	// LatencyBound is the plan's latency_p95 objective (0: none), above
	// which a timeline bucket counts as degraded.
	LatencyBound time.Duration
}

// Stat is the median and the worst of a measure across runs.
type Stat struct {
	Median float64
	Worst  float64
}

// RunStat is what one earlier run measured.
type RunStat struct {
	// Path is the report.json read.
	Path    string
	Started time.Time
	Verdict reports.Verdict
	Outages int
	// DowntimeSeconds is the sum of the run's outage durations.
	DowntimeSeconds float64
	// DegradedSeconds is the run's degraded time (see Degraded).
	DegradedSeconds float64
}

// Risk is what could go wrong, learnt from earlier runs and read from the plan.
type Risk struct {
	// Runs is how many earlier runs there are; Breached how many of them
	// breached an SLO; BreachedSLOs names the breached objectives with
	// their counts ("availability (2 runs)").
	Runs         int
	Breached     int
	BreachedSLOs []string
	// NotPassed counts runs whose verdict is not pass.
	NotPassed int
	// AutoRollbacks counts updates of earlier runs that were rolled back
	// automatically; RolloutsSeen counts every update they performed.
	AutoRollbacks int
	RolloutsSeen  int
	// Touches says which faults and updates of the plan touch which
	// services, one line each.
	Touches []string
}

// Build builds the notice of in.
func Build(in Input) *Notice {
	p := in.Plan
	n := &Notice{
		Plan:         p.Name,
		Description:  p.Description,
		Written:      in.Now,
		Changes:      changes(p),
		Rollback:     rollback(p),
		Skipped:      in.History.Skipped,
		SkippedPlans: in.History.SkippedPlans,
		Empty:        in.History.Empty,
	}
	n.When, n.NextWindow = when(in.Window, in.Critical, in.Now)
	n.Expected = expected(in.History.Runs, p.SLO.LatencyP95.D())
	n.Risk = risk(p, in.History.Runs)
	return n
}

// expected computes the per-run downtime and degraded time of runs and
// their median and worst; nil without runs.
func expected(runs []Run, bound time.Duration) *Expected {
	if len(runs) == 0 {
		return nil
	}
	e := &Expected{LatencyBound: bound}
	var down, deg []float64
	for _, r := range runs {
		s := RunStat{
			Path:            r.Path,
			Started:         r.Report.StartedAt,
			Verdict:         r.Report.Verdict,
			Outages:         len(r.Report.Outages),
			DowntimeSeconds: Downtime(r.Report),
			DegradedSeconds: Degraded(r.Report, bound),
		}
		e.Runs = append(e.Runs, s)
		down = append(down, s.DowntimeSeconds)
		deg = append(deg, s.DegradedSeconds)
	}
	e.Downtime = Stat{Median: median(down), Worst: worst(down)}
	e.Degraded = Stat{Median: median(deg), Worst: worst(deg)}
	return e
}
