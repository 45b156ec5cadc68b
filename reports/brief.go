package reports

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Brief is the summary report.html and report.md open with, for a reader
// who was not there: what was done, what users felt, what broke, how long
// each part took to recover, and what to fix. Every sentence is computed
// from the report's own data; latency and failures per fault come from the
// timeline's buckets, so they are as fine as its bucket width.
type Brief struct {
	Done      []string
	Felt      []string
	Broke     []string
	Recovered []string
	Fix       []string
}

// BriefSection is one titled part of a Brief.
type BriefSection struct {
	Title string
	Lines []string
}

// Sections returns the brief's parts in reading order, each with a line.
func (b Brief) Sections() []BriefSection {
	return []BriefSection{
		{"What was done", b.Done}, {"What users felt", b.Felt}, {"What broke", b.Broke},
		{"How long recovery took", b.Recovered}, {"What to fix", b.Fix},
	}
}

// BriefOf builds r's brief.
func BriefOf(r *Report) Brief {
	ims := impacts(r)
	return Brief{
		Done:      append(doneLines(r, ims), windowLines(r)...),
		Felt:      feltLines(r, ims),
		Broke:     brokeLines(r),
		Recovered: recoveredLines(r),
		Fix:       fixLines(r, ims),
	}
}

// doneLines: the steps, the faults and actions, and the probe traffic.
func doneLines(r *Report, ims []impact) []string {
	counts := map[string]int{}
	for _, s := range r.Steps {
		fam, _, _ := strings.Cut(s.Kind, ":")
		if s.Status == StatusSkipped {
			fam = "skipped"
		}
		counts[fam]++
	}
	parts := []string{}
	for _, k := range []struct{ key, one, many string }{
		{"fault", "fault injected", "faults injected"}, {"revert", "fault reverted", "faults reverted"},
		{"action", "action", "actions"}, {"await", "wait for a condition", "waits for a condition"},
		{"wait", "timed wait", "timed waits"}, {"skipped", "step not run", "steps not run"},
	} {
		if n := counts[k.key]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, plural(n, k.one, k.many)))
		}
	}
	lines := []string{fmt.Sprintf("Plan %q: %d %s in %s (%s).", r.Plan, len(r.Steps), plural(len(r.Steps), "step", "steps"),
		humanSeconds(r.DurationSeconds()), strings.Join(parts, ", "))}
	if len(ims) > 0 {
		names := make([]string, len(ims))
		for i, im := range ims {
			what := faultName(im.step)
			if im.step.Kind == "revert" {
				what = fmt.Sprintf("revert (%s)", im.step.Name)
			}
			names[i] = fmt.Sprintf("%s at +%s", what, humanSeconds(im.from.Sub(r.StartedAt).Seconds()))
		}
		lines = append(lines, "In order: "+strings.Join(names, "; ")+".")
	}
	if r.Requests.Total > 0 {
		line := fmt.Sprintf("Synthetic users sent %d requests", r.Requests.Total)
		if r.ThroughputRPS > 0 {
			line += fmt.Sprintf(" (%.1f per second)", r.ThroughputRPS)
		}
		lines = append(lines, line+" throughout and measured every answer.")
	}
	return lines
}

// feltLines: availability and latency over the run, then per disruption.
func feltLines(r *Report, ims []impact) []string {
	if r.Requests.Total == 0 {
		return []string{"Nothing: no probe request was measured."}
	}
	lines := []string{fmt.Sprintf("Availability %s: %d of %d requests failed. Latency p50 %s, p95 %s, p99 %s.",
		fmtPct(r.Availability.RequestBased), r.Requests.Failed, r.Requests.Total,
		humanSeconds(r.Latency.P50), humanSeconds(r.Latency.P95), humanSeconds(r.Latency.P99))}
	typical := typicalP95(r.Timeline)
	for _, im := range ims {
		if im.requests > 0 { // a step the next one followed at once is felt in its window
			lines = append(lines, feltDuring(im, typical))
		}
	}
	return lines
}

// feltDuring says what users felt while one step was in effect.
func feltDuring(im impact, typical float64) string {
	var parts []string
	switch {
	case im.failed > 0:
		parts = append(parts, fmt.Sprintf("%d of %d requests failed", im.failed, im.requests))
	default:
		parts = append(parts, fmt.Sprintf("none of %d requests failed", im.requests))
	}
	if n := len(im.outages); n > 0 {
		parts = append(parts, fmt.Sprintf("%d %s, %s in all", n, plural(n, "outage", "outages"), humanSeconds(outageTotal(im.outages))))
	}
	if im.slowSeconds > 0 {
		parts = append(parts, fmt.Sprintf("p95 rose to %s (typically %s) for about %s", humanSeconds(im.peakP95), humanSeconds(typical), humanSeconds(im.slowSeconds)))
	} else {
		parts = append(parts, fmt.Sprintf("p95 stayed at most %s (typically %s)", humanSeconds(im.peakP95), humanSeconds(typical)))
	}
	return fmt.Sprintf("%s: %s.", stepLabel(im.step), strings.Join(parts, "; "))
}

func outageTotal(os []Outage) float64 {
	var t float64
	for _, o := range os {
		t += o.DurationSeconds
	}
	return t
}

// brokeLines: user-visible outages, broken and deviated steps, breached
// SLOs, alerts that stayed silent, a changed golden answer, rollbacks.
func brokeLines(r *Report) []string {
	var lines []string
	for _, o := range r.Outages {
		line := fmt.Sprintf("Users saw an outage of %s at +%s", humanSeconds(o.DurationSeconds), humanSeconds(o.Start.Sub(r.StartedAt).Seconds()))
		if o.Cause != "" {
			line += fmt.Sprintf(", during %q", o.Cause)
		}
		lines = append(lines, line+".")
	}
	for _, s := range r.Steps {
		switch s.Status {
		case StatusError:
			lines = append(lines, fmt.Sprintf("Step %q broke: %s.", s.Name, strings.TrimSuffix(s.Error, ".")))
		case StatusFailed:
			lines = append(lines, fmt.Sprintf("Step %q did not go as expected: %s.", s.Name, strings.TrimSuffix(s.Error, ".")))
		}
	}
	var breached []string
	for _, s := range r.SLO {
		if !s.Compliant && !s.NotEvaluated {
			breached = append(breached, SLOStatement(s))
		}
	}
	if len(breached) > 0 {
		lines = append(lines, fmt.Sprintf("%d %s not met: %s.", len(breached), plural(len(breached), "objective", "objectives"), strings.Join(breached, "; ")))
	}
	lines = append(lines, otherBreaks(r)...)
	if len(lines) == 0 {
		lines = []string{"Nothing users could see: no outage, every step as expected, every objective met."}
	}
	return append(lines, componentBreaks(r)...)
}

// otherBreaks: alerts that did not fire, a golden answer that changed,
// rollouts that did not complete.
func otherBreaks(r *Report) []string {
	var lines []string
	for _, a := range r.Alerts {
		if a.FiredAt == nil {
			lines = append(lines, fmt.Sprintf("Alert %s did not fire%s.", a.Name, afterStep(a.Step)))
		}
	}
	if r.DR != nil && r.DR.GoldenPromptMatch != nil && !*r.DR.GoldenPromptMatch {
		lines = append(lines, "The golden prompt answered differently after the restore.")
	}
	for _, ro := range r.Rollouts {
		if ro.Decision == DecisionRolledBack || ro.Decision == DecisionAborted {
			lines = append(lines, fmt.Sprintf("The %s of %s to %s was %s; %d requests failed during it.", ro.Kind, ro.Target, ro.To,
				strings.ReplaceAll(ro.Decision, "-", " "), ro.FailedRequests))
		}
	}
	return lines
}

func afterStep(step string) string {
	if step == "" {
		return ""
	}
	return fmt.Sprintf(" after %q", step)
}

// recoveredLines: per fault the time until users were served again, the
// restore's RTO with its phases, rollbacks, and MTTR/MTBF.
//
// Component recovery (a hurt service's own downtime with its phases,
// watched directly) comes first: componentLines is the one place that
// reads it.
func recoveredLines(r *Report) []string {
	lines := componentLines(r)
	for _, s := range r.Steps {
		caused := false
		for _, o := range r.Outages {
			caused = caused || o.Cause == s.Name
		}
		if s.RecoverySeconds != nil && caused {
			lines = append(lines, fmt.Sprintf("Users were served again %s after %q started.", humanSeconds(*s.RecoverySeconds), s.Name))
		}
	}
	if d := r.DR; d != nil && d.RTOSeconds != nil {
		line := "Restore: RTO " + humanSeconds(*d.RTOSeconds)
		if len(d.Phases) > 0 {
			line += " (" + phaseList(d.Phases) + ")"
		}
		if d.RPOSeconds != nil {
			line += ", RPO " + humanSeconds(*d.RPOSeconds)
			if d.RPORows != nil {
				line += fmt.Sprintf(" (%d rows lost)", *d.RPORows)
			}
		}
		lines = append(lines, line+".")
	}
	for _, ro := range r.Rollouts {
		if ro.RollbackSeconds != nil {
			lines = append(lines, fmt.Sprintf("The %s of %s rolled back in %s.", ro.Kind, ro.Target, humanSeconds(*ro.RollbackSeconds)))
		}
	}
	if mttr, ok := r.MTTR(); ok {
		mtbf, _ := r.MTBF()
		lines = append(lines, fmt.Sprintf("Over the %d user-visible %s: MTTR %s, MTBF %s.", len(r.Outages), plural(len(r.Outages), "outage", "outages"), humanSeconds(mttr), humanSeconds(mtbf)))
	} else {
		lines = append(lines, "Users saw no outage, so there was nothing to recover from on their side: MTTR and MTBF do not apply.")
	}
	return lines
}

func phaseList(ps []Phase) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.Name + " " + humanSeconds(p.Seconds)
	}
	return strings.Join(parts, ", ")
}

// humanSeconds renders seconds briefly for sentences: "180 ms", "3.1 s",
// "42.5 s", "104 s", "4 min 12 s".
func humanSeconds(v float64) string {
	switch {
	case v < 0.0005:
		return "0 s"
	case v < 1:
		return strconv.FormatFloat(v*1000, 'f', 0, 64) + " ms"
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64) + " s"
	case v < 120:
		return strconv.FormatFloat(v, 'f', 0, 64) + " s"
	}
	m := math.Floor(v / 60)
	return fmt.Sprintf("%.0f min %.0f s", m, math.Floor(v-60*m))
}
