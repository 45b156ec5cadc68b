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
	if spec.Selectors.Gateway == spec.Selectors.Model {
		g.note("the gateway and model selectors are the same: gateway alerts will also read the model servers' up and vice versa")
	}
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

// forDur is every alert's `for:`: ForScrapes scrape intervals.
func (g *gen) forDur() string {
	return promDur(time.Duration(g.spec.ForScrapes) * g.spec.ScrapeInterval)
}

func (g *gen) gw(base string) string    { return g.spec.Selectors.Gateway.sel(base) }
func (g *gen) model(base string) string { return g.spec.Selectors.Model.sel(base) }

// alert is an alerting rule with the common `for:`, severity and the
// runbook_url, summary and description annotations.
func (g *gen) alert(name, severity, expr, summary, description string, labels map[string]string) Rule {
	l := map[string]string{"severity": severity}
	for k, v := range labels {
		l[k] = v
	}
	return Rule{Alert: name, Expr: expr, For: g.forDur(), Labels: l, Annotations: map[string]string{
		"summary":     summary,
		"description": description,
		"runbook_url": RunbookURL(g.spec.RunbookURL, name),
	}}
}

// RunbookURL is the runbook_url annotation of alert: base with the alert
// name, lower-cased, as the anchor (a Markdown heading's anchor).
func RunbookURL(base, alert string) string {
	return base + "#" + strings.ToLower(alert)
}

// errorRatio is failed/total requests at the gateway over w; zero, not
// absent, when no request failed yet.
func (g *gen) errorRatio(w string) string {
	return fmt.Sprintf(`(sum(rate(%s[%s])) or vector(0)) / sum(rate(%s[%s]))`,
		g.gw(counterSel(g.m.Failed)), w, g.gw(counterSel(g.m.Total)), w)
}

// latencyRatio is the fraction of gateway requests slower than the chosen
// bucket bound over w.
func (g *gen) latencyRatio(w string) string {
	return fmt.Sprintf(`1 - (sum(rate(%s[%s])) / sum(rate(%s[%s])))`,
		g.gw(fmt.Sprintf(`%s_bucket{le=~"%s"}`, g.m.Latency, promEscape(LeMatcher(g.spec.LatencyBucket)))), w,
		g.gw(g.m.Latency+"_count"), w)
}

// target names the scraped target an alert is about, in annotations.
const target = "{{ $labels.instance }} (job {{ $labels.job }})"

func (g *gen) direct() {
	rules := append(g.targetAlerts(), g.ratioAlerts()...)
	g.groups = append(g.groups, Group{Name: "aiuptime-direct", Interval: g.interval(), Rules: rules})
}

// targetAlerts are the alerts about one scraped target.
func (g *gen) targetAlerts() []Rule {
	up, engine := g.model("up"), g.model(g.m.EngineMetric)
	stall := g.stallWindow(g.spec.Thresholds.Window)
	return []Rule{
		g.alert(AlertEngineDown, SeverityPage,
			fmt.Sprintf(`%[1]s == 0 or on(instance) (%[1]s == 1 unless on(instance) group by (instance) (%[2]s))`, up, engine),
			"model server "+target+" is down or its engine exposes no metrics",
			fmt.Sprintf("up == 0, or %s absent while the server answers scrapes, for %s. Prometheus cannot see a hung engine that still serves /metrics.",
				g.m.EngineMetric, g.forDur()), nil),
		// The count_over_time guard: right after start (or a restart) the
		// token counter has too few samples for rate() to say anything, and
		// "no rate" must not read as "no tokens".
		g.alert(AlertEngineStalled, SeverityPage,
			fmt.Sprintf(`(min by (job, namespace, instance, %[4]s) (min_over_time(%[1]s[%[3]s])) > 0 unless on(instance) sum by (instance) (rate(%[2]s[%[3]s])) > 0) and on(instance) sum by (instance) (count_over_time(%[2]s[%[3]s])) >= 3`,
				g.model(g.m.Running), g.model(counterSel(g.m.Tokens)), stall, LabelService),
			"model server "+target+" has requests in flight but generates no tokens (hung engine?)",
			fmt.Sprintf("%s stayed above 0 for %s while %s did not grow. Needs traffic: an idle hung engine is invisible to metrics; only a probe's timed completion sees it.",
				g.m.Running, stall, g.m.Tokens), nil),
		g.alert(AlertGatewayDown, SeverityPage, g.gw("up")+" == 0",
			"gateway "+target+" cannot be scraped",
			fmt.Sprintf("up == 0 for %s: the gateway's /metrics does not answer.", g.forDur()), nil),
		g.alert(AlertDeploymentCooldown, SeverityTicket, g.gw(g.m.DeploymentState)+" >= 1",
			"gateway "+target+" has deployment {{ $labels.model_id }} in outage or cooldown",
			fmt.Sprintf("%s >= 1 (1 partial outage, 2 complete outage: cooling down) for %s; the router sends its requests elsewhere.",
				g.m.DeploymentState, g.forDur()), nil),
	}
}

// ratioAlerts are the gateway-wide error, availability and latency alerts.
func (g *gen) ratioAlerts() []Rule {
	t := g.spec.Thresholds
	w := g.window(t.Window)
	out := []Rule{g.alert(AlertHighErrorRate, SeverityPage, fmt.Sprintf(`%s > %s`, g.errorRatio(w), fmtFloat(t.ErrorRate)),
		fmt.Sprintf("gateway error ratio above %s over %s", fmtFloat(t.ErrorRate), w),
		fmt.Sprintf("Failed requests / all requests at the gateway (%s / %s) over %s exceeded %s for %s.", g.m.Failed, g.m.Total, w, fmtFloat(t.ErrorRate), g.forDur()), nil)}
	if t.Availability > 0 {
		out = append(out, g.alert(AlertLowAvailability, SeverityPage, fmt.Sprintf(`1 - (%s) < %s`, g.errorRatio(w), fmtFloat(t.Availability)),
			fmt.Sprintf("gateway availability below %s over %s", fmtFloat(t.Availability), w),
			fmt.Sprintf("1 - failed/all requests at the gateway over %s stayed below the availability objective %s for %s.", w, fmtFloat(t.Availability), g.forDur()), nil))
	} else {
		g.note("no availability threshold or objective: " + AlertLowAvailability + " omitted")
	}
	return append(out, g.alert(AlertHighLatencyP95, SeverityPage,
		fmt.Sprintf(`histogram_quantile(0.95, sum by (le) (rate(%s[%s]))) > %s`, g.gw(g.m.Latency+"_bucket"), w, fmtFloat(t.LatencyP95.Seconds())),
		fmt.Sprintf("gateway p95 latency above %s over %s", t.LatencyP95, w),
		fmt.Sprintf("The 95th percentile of %s over %s stayed above %s for %s.", g.m.Latency, w, t.LatencyP95, g.forDur()), nil))
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
		var conds, pairs []string
		for _, w := range g.spec.Windows {
			if w.Severity != sev.severity {
				continue
			}
			if w.Factor*budget >= 1 {
				g.note(fmt.Sprintf("%s: window pair %s/%s can never fire: %s x budget %s >= 1 (lower the budget or use a tighter objective)",
					sev.alert, promDur(w.Short), promDur(w.Long), fmtFloat(w.Factor), fmtFloat(budget)))
			}
			th := fmtFloat(w.Factor * budget)
			pairs = append(pairs, fmt.Sprintf("%s and %s above %sx", g.window(w.Long), g.window(w.Short), fmtFloat(w.Factor)))
			conds = append(conds, fmt.Sprintf(`(%s{slo="%s"} > %s and %s{slo="%s"} > %s)`,
				RecordName(sli, w.Short), name, th, RecordName(sli, w.Long), name, th))
		}
		if len(conds) == 0 {
			continue
		}
		alerts = append(alerts, g.alert(sev.alert, sev.severity, strings.Join(conds, " or "),
			fmt.Sprintf("SLO %s (%s) burns its error budget of %s too fast (%s)", name, objective, fmtFloat(budget), sev.severity),
			fmt.Sprintf("Multiwindow burn rate (SRE workbook): %s. Both windows of a pair must exceed factor x budget.", strings.Join(pairs, "; ")),
			map[string]string{"slo": name, "sli": objective}))
	}
	g.groups = append(g.groups, Group{Name: fmt.Sprintf("aiuptime-slo-%s-%s-alerts", name, sli), Interval: g.interval(), Rules: alerts})
}
