package reports

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
)

// What every output says instead of a number that was not measured.
const (
	// NoOutages stands for MTTR and MTBF when the run had no user-visible
	// outage: there was nothing to recover from, which is not a recovery of 0 s.
	NoOutages = "no outages"
	// NotMeasured stands for an objective the run gave nothing to judge.
	NotMeasured = "not measured"
	// NotEvaluated stands for an objective the drill cannot judge at all.
	NotEvaluated = "not evaluated"
)

// MTTR returns the mean duration of the user-visible outages; ok is false
// without outages (a schema-1 report's 0 included).
func (r *Report) MTTR() (seconds float64, ok bool) {
	if r.MTTRSeconds == nil || len(r.Outages) == 0 {
		return 0, false
	}
	return *r.MTTRSeconds, true
}

// MTBF returns the mean up time between user-visible outages; ok is false
// without outages.
func (r *Report) MTBF() (seconds float64, ok bool) {
	if r.MTBFSeconds == nil || len(r.Outages) == 0 {
		return 0, false
	}
	return *r.MTBFSeconds, true
}

// fmtMean renders an MTTR or MTBF for people: its seconds, or NoOutages.
func fmtMean(v float64, ok bool) string {
	if !ok {
		return NoOutages
	}
	return fmtSeconds(v)
}

// SLOStatement states one SLO judgement as a comparison that is true as
// written: "availability 97.120% < target 99.000%" for a breach,
// "latency_p95 180.0 ms <= target 2.000 s" when met, "ttft_p95 not
// measured: ..." when nothing was measured. When the values would print
// alike at the usual precision, more digits are shown until they differ.
func SLOStatement(s SLOResult) string {
	if s.NotEvaluated {
		return s.Name + " " + s.Detail
	}
	if s.NotMeasured {
		line := s.Name + " " + NotMeasured
		if s.Detail != "" {
			line += ": " + s.Detail
		}
		return line
	}
	op := holdingOp(s)
	if noOutage(s) {
		return fmt.Sprintf("%s: %s (target %s %s)", s.Name, NoOutages, s.Op, fmtUnit(s.Target, s.Unit))
	}
	actual, target := fmtUnit(s.Actual, s.Unit), fmtUnit(s.Target, s.Unit)
	strict := op == "<" || op == ">"
	for extra := 1; strict && actual == target && s.Actual != s.Target && extra <= 12; extra++ {
		actual, target = fmtUnitPrec(s.Actual, s.Unit, extra), fmtUnitPrec(s.Target, s.Unit, extra)
	}
	return fmt.Sprintf("%s %s %s target %s", s.Name, actual, op, target)
}

// noOutage reports whether s is a recovery-time objective of a run without
// outages: its 0 s is no recovery that took 0 s, there was none.
// (A schema-1 report has no kind: its recovery_time is known by name.)
func noOutage(s SLOResult) bool {
	kind := cmp.Or(s.Kind, s.Name)
	return kind == "recovery_time" && s.Actual == 0 && s.Compliant
}

// sloActual renders a judgement's measurement for a table cell.
func sloActual(s SLOResult) string {
	switch {
	case s.NotEvaluated:
		return NotEvaluated
	case s.NotMeasured:
		return NotMeasured
	case noOutage(s):
		return NoOutages
	}
	return fmtUnit(s.Actual, s.Unit)
}

// holdingOp is the relation between actual and target that holds: the
// objective's own when it was met, its strict opposite when breached.
func holdingOp(s SLOResult) string {
	switch {
	case s.Op == ">=" && s.Compliant, s.Op == "<=" && s.Compliant:
		return s.Op
	case s.Op == ">=":
		return "<"
	case s.Op == "<=":
		return ">"
	}
	return "vs"
}

// sloDetail is the rest of a judgement after its statement: what was
// compared, the burn rate and the budget consumed.
func sloDetail(s SLOResult) string {
	var parts []string
	if s.Detail != "" && !s.NotMeasured && !s.NotEvaluated {
		parts = append(parts, s.Detail)
	}
	if s.BurnRate != nil {
		parts = append(parts, fmt.Sprintf("burn rate %.2f", *s.BurnRate))
	}
	if s.BudgetConsumed != nil {
		parts = append(parts, fmt.Sprintf("budget consumed %.1f%%", *s.BudgetConsumed*100))
	}
	return strings.Join(parts, "; ")
}

// Shortfalls lists what kept r from passing, one item each: every breached
// or unmeasured SLO as its statement ("SLO availability 97.120% < target
// 99.000%") and every deviated step with how it deviated.
func Shortfalls(r *Report) []string {
	var out []string
	for _, s := range r.SLO {
		if !s.Compliant && !s.NotEvaluated {
			out = append(out, "SLO "+SLOStatement(s))
		}
	}
	for _, s := range r.Steps {
		if s.Status == StatusFailed {
			out = append(out, fmt.Sprintf("step %q: %s", s.Name, cmp.Or(s.Error, "hypothesis deviated")))
		}
	}
	return out
}

// ShortfallReason is Shortfalls in one line, "" when there are none:
// "not met: SLO availability 97.120% < target 99.000%; SLO latency_p95 ...".
func ShortfallReason(r *Report) string {
	sf := Shortfalls(r)
	if len(sf) == 0 {
		return ""
	}
	return "not met: " + strings.Join(sf, "; ")
}

// fmtUnitPrec is fmtUnit with extra decimal digits.
func fmtUnitPrec(v float64, unit string, extra int) string {
	switch unit {
	case "ratio":
		return strconv.FormatFloat(v*100, 'f', 3+extra, 64) + "%"
	case "seconds":
		return secondsPrec(v, extra)
	case "rps", "req/s":
		return strconv.FormatFloat(v, 'f', 2+extra, 64) + " req/s"
	case "rows":
		return strconv.FormatFloat(v, 'f', extra, 64) + " rows"
	}
	return num(v)
}

// secondsPrec renders seconds for people with extra decimal digits:
// "180.0 ms" below a second, "2.400 s" from one.
func secondsPrec(v float64, extra int) string {
	if v < 1 && v > 0 {
		return strconv.FormatFloat(v*1000, 'f', 1+extra, 64) + " ms"
	}
	return strconv.FormatFloat(v, 'f', 3+extra, 64) + " s"
}
