package rules

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Label values as LiteLLM (v1.7x, prometheus callback) and vLLM (V1) put
// them on their series; the key hash is sha256 of a made-up key.
var (
	litellmKey = []string{"hashed_api_key", "8a3c5f0c2d1e4b6a9f7e0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9c0b1a", "api_key_alias", "drill"}
	vllmModel  = []string{"model_name", "tiny-chat", "engine", "0"}
)

func (t *tester) builders() map[string]func() (TestGroup, error) {
	return map[string]func() (TestGroup, error){
		AlertGatewayDown:             t.gatewayDown,
		AlertEngineDown:              t.engineDown,
		AlertEngineStalled:           t.engineStalled,
		AlertDeploymentCooldown:      t.cooldown,
		AlertHighErrorRate:           func() (TestGroup, error) { return t.direct(AlertHighErrorRate, t.errorSeries) },
		AlertLowAvailability:         func() (TestGroup, error) { return t.direct(AlertLowAvailability, t.errorSeries) },
		AlertHighLatencyP95:          func() (TestGroup, error) { return t.direct(AlertHighLatencyP95, t.latencySeries) },
		AlertErrorBudgetBurnPage:     func() (TestGroup, error) { return t.burn(AlertErrorBudgetBurnPage, t.errorSeries) },
		AlertErrorBudgetBurnTicket:   func() (TestGroup, error) { return t.burn(AlertErrorBudgetBurnTicket, t.errorSeries) },
		AlertLatencyBudgetBurnPage:   func() (TestGroup, error) { return t.burn(AlertLatencyBudgetBurnPage, t.latencySeries) },
		AlertLatencyBudgetBurnTicket: func() (TestGroup, error) { return t.burn(AlertLatencyBudgetBurnTicket, t.latencySeries) },
	}
}

// outage is the common shape: 2 good samples, the condition for the `for:`
// plus margins, then good again; pending (the last sample before the for:
// has passed), fire and resolve are the check times.
func (t *tester) outage() (bad, after, pending, fire, resolve int) {
	bad = t.k + 2*margin
	after = 2 * margin
	return bad, after, 2 + t.k - 1, 2 + t.k + margin, 2 + bad + margin
}

// gatewayDown: the gateway's up goes 0 and back; an unselected target is
// down all along.
func (t *tester) gatewayDown() (TestGroup, error) {
	bad, after, pending, fire, resolve := t.outage()
	return TestGroup{
		InputSeries: []InputSeries{
			{series("up", t.gw), (&values{}).gauge(2, "1").gauge(bad, "0").gauge(after, "1").String()},
			{series("up", t.gwOff), (&values{}).gauge(2+bad+after, "0").String()},
		},
		AlertRuleTest: t.firesAndResolves(AlertGatewayDown, pending, fire, resolve, t.expect(AlertGatewayDown, t.gw)),
	}, nil
}

// engineDown: model-0 stops answering scrapes (up 0, its series stale);
// model-1 answers but its engine metric goes stale; both come back.
func (t *tester) engineDown() (TestGroup, error) {
	bad, after, pending, fire, resolve := t.outage()
	running := func(l map[string]string) InputSeries {
		return InputSeries{series(t.spec.Metrics.EngineMetric, l, vllmModel...),
			(&values{}).gauge(2, "0").gauge(1, "stale").gauge(bad-1, "_").gauge(after, "0").String()}
	}
	tg := TestGroup{InputSeries: []InputSeries{
		{series("up", t.m0), (&values{}).gauge(2, "1").gauge(bad, "0").gauge(after, "1").String()},
		running(t.m0),
		{series("up", t.mOff), (&values{}).gauge(2+bad+after, "0").String()},
	}}
	firing := []ExpAlert{t.expect(AlertEngineDown, t.m0)}
	if t.twoModels {
		tg.InputSeries = append(tg.InputSeries, InputSeries{series("up", t.m1), (&values{}).gauge(2+bad+after, "1").String()}, running(t.m1))
		firing = append(firing, t.expect(AlertEngineDown, t.m1))
	}
	tg.AlertRuleTest = t.firesAndResolves(AlertEngineDown, pending, fire, resolve, firing...)
	return tg, nil
}

// engineStalled: model-0 has a request in flight and makes no token for
// the stall window plus the `for:`, then generates again; model-1 is busy
// and generating all along; an unselected target is stalled all along.
func (t *tester) engineStalled() (TestGroup, error) {
	stall, _ := Scaled(t.spec.Thresholds.Window, t.spec.Scale, t.spec.ScrapeInterval)
	s := max(t.samples(stall), MinStallScrapes)
	fire := 2 + s + t.k + margin
	resume := fire + 1
	resolve := resume + margin
	n := resolve + margin
	tokens := t.spec.Metrics.Tokens + "_total"
	stalled := func(l map[string]string) []InputSeries {
		return []InputSeries{
			{series(t.spec.Metrics.Running, l, vllmModel...), (&values{}).gauge(2, "0").gauge(n-2, "1").String()},
			{series(tokens, l, vllmModel...), (&values{}).counter(resume, 0).counter(n-resume, 4).String()},
		}
	}
	tg := TestGroup{InputSeries: stalled(t.m0)}
	off := stalled(t.mOff)
	off[1].Values = (&values{}).counter(n, 0).String()
	tg.InputSeries = append(tg.InputSeries, off...)
	if t.twoModels {
		tg.InputSeries = append(tg.InputSeries,
			InputSeries{series(t.spec.Metrics.Running, t.m1, vllmModel...), (&values{}).gauge(n, "1").String()},
			InputSeries{series(tokens, t.m1, vllmModel...), (&values{}).counter(n, 4).String()})
	}
	l := map[string]string{}
	for _, k := range []string{"job", "namespace", "instance", LabelService} {
		if v, ok := t.m0[k]; ok {
			l[k] = v
		}
	}
	tg.AlertRuleTest = t.firesAndResolves(AlertEngineStalled, s+t.k, fire, resolve, t.expect(AlertEngineStalled, l))
	return tg, nil
}

// cooldown: LiteLLM reports deployment model-1 in outage, then healthy.
func (t *tester) cooldown() (TestGroup, error) {
	bad, after, pending, fire, resolve := t.outage()
	dep := func(id string) []string {
		return []string{"litellm_model_name", "hosted_vllm/tiny-chat", "model_id", id, "api_base", "http://" + id + ":8000/v1", "api_provider", "hosted_vllm"}
	}
	name := t.spec.Metrics.DeploymentState
	return TestGroup{
		InputSeries: []InputSeries{
			{series(name, t.gw, dep("model-0")...), (&values{}).gauge(2+bad+after, "0").String()},
			{series(name, t.gw, dep("model-1")...), (&values{}).gauge(2, "0").gauge(bad, "2").gauge(after, "0").String()},
			{series(name, t.gwOff, dep("model-1")...), (&values{}).gauge(2+bad+after, "2").String()},
		},
		AlertRuleTest: t.firesAndResolves(AlertDeploymentCooldown, pending, fire, resolve, t.expect(AlertDeploymentCooldown, merge(t.gw, dep("model-1")...))),
	}, nil
}

// phases is a good-bad-good timeline in samples.
type phases struct{ good, bad, after int }

// errorSeries is LiteLLM's request counters, 10 requests a sample: all
// succeed in the good phases and all fail in the bad one. An unselected
// gateway fails all its requests all along.
func (t *tester) errorSeries(p phases) []InputSeries {
	n := p.good + p.bad + p.after
	ok := func(v float64) *values {
		return (&values{}).counter(p.good, v).counter(p.bad, 10-v).counter(p.after, v)
	}
	total, failed := counterName(t.spec.Metrics.Total), counterName(t.spec.Metrics.Failed)
	fail := append([]string{"requested_model", "chat", "exception_status", "500", "exception_class", "Openai.InternalServerError"}, litellmKey...)
	return []InputSeries{
		{series(total, t.gw, append([]string{"requested_model", "chat", "status_code", "200"}, litellmKey...)...), ok(10).String()},
		{series(total, t.gw, append([]string{"requested_model", "chat", "status_code", "500"}, litellmKey...)...), ok(0).String()},
		{series(failed, t.gw, fail...), ok(0).String()},
		{series(total, t.gwOff, append([]string{"requested_model", "chat", "status_code", "500"}, litellmKey...)...), (&values{}).counter(n, 10).String()},
		{series(failed, t.gwOff, fail...), (&values{}).counter(n, 10).String()},
	}
}

// latencySeries is LiteLLM's latency histogram, 10 requests a sample: in
// the good phases all in the lowest bucket (at most the p95 threshold and
// the SLO bucket), in the bad one all in a bucket 4x above both.
func (t *tester) latencySeries(p phases) []InputSeries {
	th := t.spec.Thresholds.LatencyP95.Seconds()
	lo, hi := th, th
	if b := t.spec.LatencyBucket; b > 0 {
		lo, hi = math.Min(th, b), math.Max(th, b)
	}
	bounds := []float64{lo, th, hi}
	if b := t.spec.LatencyBucket; b > 0 {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	bounds = append(bounds, 4*hi, math.Inf(1))
	labels := append([]string{"model", "hosted_vllm/tiny-chat", "requested_model", "chat"}, litellmKey...)
	base := t.spec.Metrics.Latency
	var out []InputSeries
	seen := map[string]bool{}
	for _, b := range bounds {
		le := pythonFloat(b)
		if seen[le] {
			continue
		}
		seen[le] = true
		badInc := 0.0
		if b > hi {
			badInc = 10
		}
		v := (&values{}).counter(p.good, 10).counter(p.bad, badInc).counter(p.after, 10)
		out = append(out, InputSeries{series(base+"_bucket", t.gw, append([]string{"le", le}, labels...)...), v.String()})
	}
	count := (&values{}).counter(p.good+p.bad+p.after, 10)
	return append(out, InputSeries{series(base+"_count", t.gw, labels...), count.String()})
}

// direct tests a direct ratio alert: the bad phase fills the whole rate
// window, then holds for the `for:`.
func (t *tester) direct(name string, input func(phases) []InputSeries) (TestGroup, error) {
	w := t.window(t.spec.Thresholds.Window)
	p := phases{good: w + 2, bad: w + 1 + t.k + 2*margin, after: w + 2*margin + 1}
	fire := p.good + w + 1 + t.k + margin
	resolve := p.good + p.bad + w + margin
	var l map[string]string
	return TestGroup{InputSeries: input(p), AlertRuleTest: t.firesAndResolves(name, -1, fire, resolve, t.expect(name, l))}, nil
}

// burn tests a burn-rate alert on the window pair of its severity that
// fires soonest with every request bad: both windows must exceed
// factor x budget (the long one after factor x budget x long of bad
// samples). It resolves once the longest short window is clean again.
func (t *tester) burn(name string, input func(phases) []InputSeries) (TestGroup, error) {
	r := t.rules[name]
	budget := t.budget(r.Labels["sli"])
	need, longestShort := math.MaxInt, 0
	for _, w := range t.spec.Windows {
		if w.Severity != r.Labels["severity"] {
			continue
		}
		s, l := t.window(w.Short), t.window(w.Long)
		longestShort = max(longestShort, s)
		if w.Factor*budget >= 1 {
			continue
		}
		need = min(need, max(s+1, int(math.Floor(w.Factor*budget*float64(l)))+2))
	}
	if need == math.MaxInt {
		// No pair can fire: show it stays silent under a total outage.
		t.notes = append(t.notes, fmt.Sprintf("%s: no window pair can fire (factor x budget >= 1); its test only shows it stays silent", name))
		p := phases{good: 2, bad: longestShort + 2*margin, after: 1}
		return TestGroup{InputSeries: input(p), AlertRuleTest: []AlertTest{{EvalTime: t.at(p.good + p.bad), Alertname: name}}}, nil
	}
	p := phases{good: 2, bad: need + t.k + 2*margin, after: longestShort + 2*margin + 1}
	fire := p.good + need + t.k + margin
	resolve := p.good + p.bad + longestShort + margin
	l := map[string]string{"slo": t.spec.Name, "sli": r.Labels["sli"]}
	return TestGroup{InputSeries: input(p), AlertRuleTest: t.firesAndResolves(name, -1, fire, resolve, t.expect(name, l))}, nil
}

// budget is the error budget of the SLI an alert burns.
func (t *tester) budget(sli string) float64 {
	if sli == "latency" {
		p, _, _ := t.spec.SLO.LatencyObjective()
		return 1 - p
	}
	return t.spec.SLO.ErrorBudget()
}

// counterName is the name prometheus_client exposes a counter under.
func counterName(name string) string {
	if strings.HasSuffix(name, "_total") {
		return name
	}
	return name + "_total"
}

// pythonFloat formats a bucket bound as Python's prometheus_client does
// (LiteLLM): 1.0, 0.5, +Inf.
func pythonFloat(f float64) string {
	if math.IsInf(f, 1) {
		return "+Inf"
	}
	s := fmtFloat(f)
	if strings.ContainsAny(s, ".e") {
		return s
	}
	return s + ".0"
}
