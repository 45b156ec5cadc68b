package notice

import (
	"fmt"
	"maps"
	"slices"

	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/reports"
)

// risk counts what went wrong in earlier runs and says what the plan's
// faults and updates touch.
func risk(p *plan.Plan, runs []Run) Risk {
	r := Risk{Runs: len(runs), Touches: touches(p)}
	breaches := map[string]int{}
	for _, run := range runs {
		rep := run.Report
		if rep.Verdict != reports.VerdictPass {
			r.NotPassed++
		}
		breached := false
		for _, s := range rep.SLO {
			if !s.Compliant && !s.NotEvaluated {
				breaches[s.Name]++
				breached = true
			}
		}
		if breached {
			r.Breached++
		}
		for _, ro := range rep.Rollouts {
			r.RolloutsSeen++
			if ro.AutoRollback != nil || ro.Decision == reports.DecisionRolledBack {
				r.AutoRollbacks++
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(breaches)) {
		r.BreachedSLOs = append(r.BreachedSLOs, fmt.Sprintf("%s (%s)", name, plural(breaches[name], "run")))
	}
	return r
}

// touches says, per fault and update step, which services it touches.
func touches(p *plan.Plan) []string {
	var out []string
	for _, s := range p.Steps {
		switch {
		case s.Fault != "":
			out = append(out, fmt.Sprintf("%s: fault %s on %s", s.Name, s.Fault, targetText(s.Target, "its target")))
		case s.Action == "gateway-update":
			out = append(out, fmt.Sprintf("%s: the gateway is replaced, every request passes through it", s.Name))
		case s.Action == "validate":
			continue // it reads, it changes nothing
		case s.Action == "backup" || s.Action == "restore":
			out = append(out, fmt.Sprintf("%s: %s of %s", s.Name, s.Action, targetText(s.Target, "every service's volumes")))
		case s.Action != "":
			out = append(out, fmt.Sprintf("%s: %s on %s", s.Name, s.Action, targetText(s.Target, "every model replica")))
		}
	}
	return out
}

// HistoryLines says in words what earlier runs show about the risk.
func (r Risk) HistoryLines() []string {
	if r.Runs == 0 {
		return []string{"No earlier run of this plan is known, so the history says nothing about the risk."}
	}
	lines := []string{fmt.Sprintf("%s of %s breached an SLO.", countOf(r.Breached), plural(r.Runs, "earlier run"))}
	if len(r.BreachedSLOs) > 0 {
		lines = append(lines, "Breached objectives: "+joinWords(r.BreachedSLOs)+".")
	}
	if r.NotPassed > 0 {
		lines = append(lines, fmt.Sprintf("%s did not pass.", plural(r.NotPassed, "run")))
	}
	if r.RolloutsSeen > 0 {
		lines = append(lines, fmt.Sprintf("%s of %s were rolled back automatically.", countOf(r.AutoRollbacks), plural(r.RolloutsSeen, "update")))
	} else {
		lines = append(lines, "No earlier run performed an update, so no automatic rollback was seen.")
	}
	return lines
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func countOf(n int) string {
	if n == 0 {
		return "None"
	}
	return fmt.Sprint(n)
}

func joinWords(xs []string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	s := ""
	for i, x := range xs {
		switch {
		case i == 0:
		case i == len(xs)-1:
			s += " and "
		default:
			s += ", "
		}
		s += x
	}
	return s
}
