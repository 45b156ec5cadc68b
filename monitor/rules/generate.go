package rules

import (
	"fmt"
	"strings"
	"time"
)

// Generate builds the rule file for spec.
func Generate(spec Spec) (Result, error) {
	if err := spec.defaults(); err != nil {
		return Result{}, err
	}
	g := &gen{spec: spec, m: spec.Metrics}
	g.direct()
	if budget := spec.SLO.ErrorBudget(); budget > 0 {
		g.slo("errors", g.errorRatio, budget, AlertErrorBudgetBurnPage, AlertErrorBudgetBurnTicket, "availability")
	} else {
		g.note("no availability or error-rate objective: error budget burn alerts omitted")
	}
	percentile, threshold, hasLatency := spec.SLO.LatencyObjective()
	switch {
	case !hasLatency:
		g.note("no latency objective: latency budget burn alerts omitted")
	case spec.LatencyBucket == 0:
		g.note("no latency histogram bucket chosen (PickBucket): latency budget burn alerts omitted")
	default:
		if spec.LatencyBucket != threshold.Seconds() {
			g.note(fmt.Sprintf("latency SLI uses bucket le=%s for threshold %s", fmtFloat(spec.LatencyBucket), threshold))
		}
		g.slo("latency", g.latencyRatio, 1-percentile, AlertLatencyBudgetBurnPage, AlertLatencyBudgetBurnTicket, "latency")
	}
	return Result{File: File{Groups: g.groups}, Notes: g.notes}, nil
}

type gen struct {
	spec    Spec
	m       Metrics
	groups  []Group
	notes   []string
	clamped map[time.Duration]bool
}

func (g *gen) note(s string) { g.notes = append(g.notes, s) }

func (g *gen) window(d time.Duration) string {
	w, clamped := Scaled(d, g.spec.Scale, g.spec.ScrapeInterval)
	if clamped {
		if g.clamped == nil {
			g.clamped = map[time.Duration]bool{}
		}
		if !g.clamped[d] {
			g.clamped[d] = true
			g.note(fmt.Sprintf("window %s scaled by %s clamped to %s (%d scrape intervals)", promDur(d), fmtFloat(g.spec.Scale), promDur(w), MinWindowScrapes))
		}
	}
	return promDur(w)
}

// stallWindow is the scaled direct window, at least MinStallScrapes scrapes:
// a request may legitimately wait a few scrapes for its first token.
func (g *gen) stallWindow(d time.Duration) string {
	w, _ := Scaled(d, g.spec.Scale, g.spec.ScrapeInterval)
	if min := MinStallScrapes * g.spec.ScrapeInterval; w < min {
		g.note(fmt.Sprintf("stall window %s scaled by %s raised to %s (%d scrape intervals)", promDur(d), fmtFloat(g.spec.Scale), promDur(min), MinStallScrapes))
		w = min
	}
	return promDur(w)
}

func (g *gen) interval() string { return promDur(g.spec.ScrapeInterval) }

// errorRatio is failed/total requests at the gateway over w; zero, not
// absent, when no request failed yet.
func (g *gen) errorRatio(w string) string {
	return fmt.Sprintf(`(sum(rate(%s[%s])) or vector(0)) / sum(rate(%s[%s]))`,
		withRole(counterSel(g.m.Failed), RoleGateway), w, withRole(counterSel(g.m.Total), RoleGateway), w)
}

// withRole adds a role matcher to a selector that may already have braces.
func withRole(sel, role string) string {
	if strings.HasSuffix(sel, "}") {
		return strings.TrimSuffix(sel, "}") + fmt.Sprintf(`,%s="%s"}`, LabelRole, role)
	}
	return fmt.Sprintf(`%s{%s="%s"}`, sel, LabelRole, role)
}

// latencyRatio is the fraction of gateway requests slower than the chosen
// bucket bound over w.
func (g *gen) latencyRatio(w string) string {
	return fmt.Sprintf(`1 - (sum(rate(%s_bucket{%s="%s",le=~"%s"}[%s])) / sum(rate(%s_count{%s="%s"}[%s])))`,
		g.m.Latency, LabelRole, RoleGateway, promEscape(LeMatcher(g.spec.LatencyBucket)), w, g.m.Latency, LabelRole, RoleGateway, w)
}

func (g *gen) direct() {
	t := g.spec.Thresholds
	w := g.window(t.Window)
	forS := ""
	if t.For > 0 {
		forS = promDur(t.For)
	}
	rules := []Rule{
		{
			Alert: AlertEngineDown,
			Expr: fmt.Sprintf(`up{%[1]s="%[2]s"} == 0 or on(instance) (up{%[1]s="%[2]s"} == 1 unless on(instance) group by (instance) (%[3]s))`,
				LabelRole, RoleModel, withRole(g.m.EngineMetric, RoleModel)),
			Labels: map[string]string{"severity": SeverityPage},
			Annotations: map[string]string{
				"summary":     "model server {{ $labels.service }} is down or its engine exposes no metrics",
				"description": "up == 0, or " + g.m.EngineMetric + " absent while the server answers scrapes. Prometheus cannot see a hung engine that still serves /metrics.",
			},
		},
		{
			Alert: AlertEngineStalled,
			// The count_over_time guard: right after start (or a restart) the
			// token counter has too few samples for rate() to say anything, and
			// "no rate" must not read as "no tokens".
			Expr: fmt.Sprintf(`(min by (instance, service) (min_over_time(%[1]s[%[3]s])) > 0 unless on(instance) sum by (instance) (rate(%[2]s[%[3]s])) > 0) and on(instance) sum by (instance) (count_over_time(%[2]s[%[3]s])) >= 3`,
				withRole(g.m.Running, RoleModel), withRole(counterSel(g.m.Tokens), RoleModel), g.stallWindow(t.Window)),
			Labels: map[string]string{"severity": SeverityPage},
			Annotations: map[string]string{
				"summary":     "model server {{ $labels.service }} has requests in flight but generates no tokens (hung engine?)",
				"description": "Needs traffic: an idle hung engine is invisible to metrics; only a probe's timed completion sees it.",
			},
		},
		{
			Alert:       AlertGatewayDown,
			Expr:        fmt.Sprintf(`up{%s="%s"} == 0`, LabelRole, RoleGateway),
			Labels:      map[string]string{"severity": SeverityPage},
			Annotations: map[string]string{"summary": "gateway {{ $labels.service }} cannot be scraped"},
		},
		{
			Alert:       AlertDeploymentCooldown,
			Expr:        fmt.Sprintf(`%s >= 1`, withRole(g.m.DeploymentState, RoleGateway)),
			Labels:      map[string]string{"severity": SeverityTicket},
			Annotations: map[string]string{"summary": "gateway deployment {{ $labels.model_id }} is in outage or cooldown (state {{ $value }})"},
		},
		{
			Alert:       AlertHighErrorRate,
			Expr:        fmt.Sprintf(`%s > %s`, g.errorRatio(w), fmtFloat(t.ErrorRate)),
			For:         forS,
			Labels:      map[string]string{"severity": SeverityPage},
			Annotations: map[string]string{"summary": fmt.Sprintf("gateway error ratio {{ $value }} above %s over %s", fmtFloat(t.ErrorRate), w)},
		},
		{
			Alert:       AlertLowAvailability,
			Expr:        fmt.Sprintf(`1 - (%s) < %s`, g.errorRatio(w), fmtFloat(t.Availability)),
			For:         forS,
			Labels:      map[string]string{"severity": SeverityPage},
			Annotations: map[string]string{"summary": fmt.Sprintf("gateway availability {{ $value }} below %s over %s", fmtFloat(t.Availability), w)},
		},
		{
			Alert: AlertHighLatencyP95,
			Expr: fmt.Sprintf(`histogram_quantile(0.95, sum by (le) (rate(%s_bucket{%s="%s"}[%s]))) > %s`,
				g.m.Latency, LabelRole, RoleGateway, w, fmtFloat(t.LatencyP95.Seconds())),
			For:         forS,
			Labels:      map[string]string{"severity": SeverityPage},
			Annotations: map[string]string{"summary": fmt.Sprintf("gateway p95 latency {{ $value }}s above %s over %s", t.LatencyP95, w)},
		},
	}
	g.groups = append(g.groups, Group{Name: "aiuptime-direct", Interval: g.interval(), Rules: rules})
}

// RecordName is the recording rule name of an SLI ratio over an unscaled
// window, e.g. aiuptime:slo_errors:ratio_rate1h. The name keeps the unscaled
// window so it is stable whatever the scale.
func RecordName(sli string, window time.Duration) string {
	return fmt.Sprintf("aiuptime:slo_%s:ratio_rate%s", sli, promDur(window))
}

func (g *gen) slo(sli string, ratio func(w string) string, budget float64, page, ticket, objective string) {
	name := g.spec.Name
	sloLabels := map[string]string{"slo": name, "sli": objective}
	var recs []Rule
	seen := map[time.Duration]bool{}
	for _, w := range g.spec.Windows {
		for _, d := range []time.Duration{w.Short, w.Long} {
			if seen[d] {
				continue
			}
			seen[d] = true
			recs = append(recs, Rule{Record: RecordName(sli, d), Expr: ratio(g.window(d)), Labels: sloLabels})
		}
	}
	g.groups = append(g.groups, Group{Name: fmt.Sprintf("aiuptime-slo-%s-%s-sli", name, sli), Interval: g.interval(), Rules: recs})

	var alerts []Rule
	for _, sev := range []struct{ severity, alert string }{{SeverityPage, page}, {SeverityTicket, ticket}} {
		var conds []string
		for _, w := range g.spec.Windows {
			if w.Severity != sev.severity {
				continue
			}
			if w.Factor*budget >= 1 {
				g.note(fmt.Sprintf("%s: window pair %s/%s can never fire: %s x budget %s >= 1 (lower the budget or use a tighter objective)",
					sev.alert, promDur(w.Short), promDur(w.Long), fmtFloat(w.Factor), fmtFloat(budget)))
			}
			th := fmtFloat(w.Factor * budget)
			conds = append(conds, fmt.Sprintf(`(%s{slo="%s"} > %s and %s{slo="%s"} > %s)`,
				RecordName(sli, w.Short), name, th, RecordName(sli, w.Long), name, th))
		}
		if len(conds) == 0 {
			continue
		}
		alerts = append(alerts, Rule{
			Alert:  sev.alert,
			Expr:   strings.Join(conds, " or "),
			Labels: map[string]string{"severity": sev.severity, "slo": name, "sli": objective},
			Annotations: map[string]string{
				"summary": fmt.Sprintf("SLO %s (%s) burns its error budget of %s too fast (%s)", name, objective, fmtFloat(budget), sev.severity),
			},
		})
	}
	g.groups = append(g.groups, Group{Name: fmt.Sprintf("aiuptime-slo-%s-%s-alerts", name, sli), Interval: g.interval(), Rules: alerts})
}
