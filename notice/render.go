package notice

import (
	"fmt"
	"strings"
	"time"
)

// section is one part of the notice as both renderers show it: plain text,
// escaped by each renderer for its format.
type section struct {
	Title string
	Paras []string
	// Items are list items; Ordered numbers them.
	Items   []string
	Ordered bool
	// Head and Rows are a table after the items.
	Head []string
	Rows [][]string
	// After are paragraphs after the table.
	After []string
}

// NoHistory is what the notice says instead of an expectation when no
// earlier run of the plan is known.
const NoHistory = "No earlier run of this plan is known, so no downtime is predicted. " +
	"The expectation is learnt from measured runs only: run the plan (in a test environment) " +
	"and pass its output directory with --history."

// sections lays the notice out.
func (n *Notice) sections() []section {
	what := section{Title: "What will change", Ordered: true}
	if n.Description != "" {
		what.Paras = []string{sentence(n.Description)}
	}
	for _, c := range n.Changes {
		what.Items = append(what.Items, c.Step+": "+c.Text)
	}
	return []section{
		what,
		{Title: "When", Paras: n.When},
		n.downtimeSection(),
		{Title: "Risk: what earlier runs show", Items: n.Risk.HistoryLines()},
		{Title: "Risk: what the plan touches", Items: orNone(n.Risk.Touches)},
		{Title: "How rollback works", Items: n.Rollback},
	}
}

// downtimeSection is the expectation, or the plain statement that there is
// none.
func (n *Notice) downtimeSection() section {
	s := section{Title: "Expected user-visible downtime"}
	e := n.Expected
	if e == nil {
		s.Paras = []string{NoHistory}
		return s
	}
	s.Paras = []string{fmt.Sprintf("From %s of this plan (%s):", plural(len(e.Runs), "earlier run"), runDates(e.Runs))}
	s.Items = []string{
		fmt.Sprintf("Downtime per run: median %s, worst %s.", SecondsText(e.Downtime.Median), SecondsText(e.Downtime.Worst)),
		fmt.Sprintf("Degraded time per run: median %s, worst %s.", MinutesText(e.Degraded.Median), MinutesText(e.Degraded.Worst)),
	}
	s.Head = []string{"Run started (UTC)", "Verdict", "Outages", "Downtime", "Degraded"}
	for _, r := range e.Runs {
		s.Rows = append(s.Rows, []string{r.Started.UTC().Format("2006-01-02 15:04:05"), string(r.Verdict),
			fmt.Sprint(r.Outages), SecondsText(r.DowntimeSeconds), MinutesText(r.DegradedSeconds)})
	}
	bound := "the plan sets no latency objective, so only failed requests count"
	if e.LatencyBound > 0 {
		bound = "the plan's latency objective is p95 at most " + e.LatencyBound.String()
	}
	s.After = []string{
		"Downtime is the sum of the durations of a run's outages: the spans during which users' requests failed.",
		"Degraded time is " + DegradedDefinition + " (" + bound + ").",
		"The median and the worst are over the runs above; a future run may differ.",
	}
	return s
}

// runDates lists the dates of runs, oldest first.
func runDates(runs []RunStat) string {
	ds := make([]string, len(runs))
	for i, r := range runs {
		ds[i] = r.Started.UTC().Format("2006-01-02")
	}
	return strings.Join(ds, ", ")
}

// footer lines: when it was written and what the history left out.
func (n *Notice) footer() []string {
	lines := []string{"Written " + n.Written.UTC().Format(time.RFC3339) + " by aiuptime drill notice."}
	if n.Skipped > 0 {
		lines = append(lines, fmt.Sprintf("Skipped %s of other plans (%s).", plural(n.Skipped, "report"), strings.Join(n.SkippedPlans, ", ")))
	}
	for _, d := range n.Empty {
		lines = append(lines, "No report.json under "+d+".")
	}
	return lines
}

// sentence ends s with a full stop unless it ends with punctuation.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s[len(s)-1:], ".!?") {
		return s
	}
	return s + "."
}

func orNone(xs []string) []string {
	if len(xs) == 0 {
		return []string{"No fault or update: the plan only observes."}
	}
	return xs
}

// SecondsText renders seconds for the notice: "0.654 s", or minutes from
// one minute on ("12.5 min (750 s)").
func SecondsText(s float64) string {
	if s < 60 {
		return fmt.Sprintf("%.3f s", s)
	}
	return fmt.Sprintf("%.1f min (%.0f s)", s/60, s)
}

// MinutesText renders seconds as minutes for the notice: "0.01 min (0.5 s)".
func MinutesText(s float64) string {
	return fmt.Sprintf("%.2f min (%.1f s)", s/60, s)
}
