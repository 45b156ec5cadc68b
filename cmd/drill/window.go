package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"

	"github.com/aiuptime/aiuptime/calendar"
	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/reports"
)

// windowFlags are drill run's answers to a plan's maintenance window.
type windowFlags struct {
	// now runs the plan outside its window (recorded as override "now").
	now bool
	// skip exits 0 outside the window: for a cron job whose schedule
	// cannot say "the first Saturday of the month".
	skip bool
}

func (w *windowFlags) register(f *pflag.FlagSet) {
	f.BoolVar(&w.now, "now", false, "run outside the plan's maintenance window (the report records the override)")
	f.BoolVar(&w.skip, "skip-outside-window", false, "outside the plan's maintenance window, say so and exit 0 (for schedules that fire on more days than the window)")
}

// Overrides recorded in the report's window check.
const (
	overrideNow      = "now"
	overrideCritical = "critical"
)

// windowGate decides whether a run of p may start at t. It returns the
// check for the report (nil when the plan has no window) and whether to
// go on. Outside the window a run is refused (exit 2, naming the next
// window) unless --now or the window is critical; --skip-outside-window
// turns the refusal into a skip (exit 0); a dry run never refuses, it
// says where the run stands.
func windowGate(w io.Writer, p *plan.Plan, t time.Time, f windowFlags, dryRun bool) (*reports.WindowCheck, bool, error) {
	if f.now && f.skip {
		return nil, false, exitcode.Wrap(exitcode.Usage, fmt.Errorf("--now and --skip-outside-window exclude each other"))
	}
	if p.Window == nil {
		return nil, true, nil
	}
	cal, err := p.Window.Calendar()
	if err != nil { // validation has refused it already
		return nil, false, exitcode.Wrap(exitcode.Usage, err)
	}
	check := &reports.WindowCheck{Window: cal.String(), Inside: cal.Contains(t)}
	next := cal.Next(t) // the occurrence in force, or the next to open
	if !cal.Always {
		following := next.Start
		if check.Inside {
			following = cal.Next(next.End).Start
		}
		check.NextStart = &following
	}
	switch {
	case check.Inside:
		if !cal.Always {
			fmt.Fprintf(w, "window: inside the maintenance window (%s) until %s\n", cal, whenIn(next.End, cal.Loc))
		}
	case dryRun:
		fmt.Fprintf(w, "window: outside the maintenance window (%s); the next opens %s; a run now needs --now%s\n",
			cal, whenIn(next.Start, cal.Loc), criticalNote(p.Window.Critical))
	case p.Window.Critical:
		check.Override = overrideCritical
		fmt.Fprintf(w, "window: outside the maintenance window (%s); running anyway: the window is critical\n", cal)
	case f.now:
		check.Override = overrideNow
		fmt.Fprintf(w, "window: outside the maintenance window (%s); running anyway: --now\n", cal)
	case f.skip:
		fmt.Fprintf(w, "plan %s: skipped: outside the maintenance window (%s); the next opens %s\n", p.Name, cal, whenIn(next.Start, cal.Loc))
		return check, false, nil
	default:
		return check, false, p.WindowErrorf("outside the maintenance window (%s); the next opens %s; --now runs it anyway",
			cal, whenIn(next.Start, cal.Loc))
	}
	return check, true, nil
}

func criticalNote(critical bool) string {
	if critical {
		return " (or nothing: the window is critical)"
	}
	return ""
}

// whenIn writes t in the window's zone and, for any other zone, in UTC:
// "2026-12-05 02:00 CET (01:00 UTC)", with the UTC date when it differs.
func whenIn(t time.Time, loc *time.Location) string {
	local, utc := t.In(loc), t.UTC()
	s := local.Format("2006-01-02 15:04 MST")
	if loc == time.UTC || loc.String() == "UTC" {
		return s
	}
	if local.Format("2006-01-02") != utc.Format("2006-01-02") {
		return s + " (" + utc.Format("2006-01-02 15:04") + " UTC)"
	}
	return s + " (" + utc.Format("15:04") + " UTC)"
}

// windowOpenings lists the next n openings of w, in its zone and UTC.
func windowOpenings(w io.Writer, cal calendar.Window, t time.Time, n int) {
	for _, s := range cal.Upcoming(t, n) {
		state := ""
		if !s.Start.After(t) {
			state = "  (open now)"
		}
		fmt.Fprintf(w, "%s  until %s%s\n", whenIn(s.Start, cal.Loc), whenIn(s.End, cal.Loc), state)
	}
}
