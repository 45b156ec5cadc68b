// Package rules generates Prometheus recording and alerting rules for a drill:
// SLO burn-rate alerts in the multiwindow, multi-burn-rate form of the Google
// SRE workbook (Sloth's google-30d windows), scaled down in time for drills,
// plus the seed's direct alerts (p95, error rate, deployment cooldown, engine
// down).
//
// The SLIs are read from the gateway's LiteLLM metrics:
//
//	error ratio   = rate(litellm_proxy_failed_requests_metric) / rate(litellm_proxy_total_requests_metric)
//	latency ratio = 1 - rate(litellm_request_total_latency_metric_bucket{le=B}) / rate(..._count)
//
// where B is a bucket bound the caller read from the exposed histogram
// (PickBucket); no le value is hard-coded.
package rules

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/prometheus/common/model"

	"github.com/aiuptime/aiuptime/slo"
	"github.com/aiuptime/aiuptime/units"
)

// Alert names. They are stable: plans, suites and reports refer to them.
const (
	// AlertEngineDown: a model server cannot be scraped (up == 0) or is
	// scraped but exposes no vllm:num_requests_running (its engine is gone).
	AlertEngineDown = "AiuptimeEngineDown"
	// AlertEngineStalled: a model server had requests in flight for the
	// whole stall window and generated no token: a hung engine, visible only
	// while traffic is present.
	AlertEngineStalled = "AiuptimeEngineStalled"
	// AlertGatewayDown: the gateway cannot be scraped.
	AlertGatewayDown = "AiuptimeGatewayDown"
	// AlertDeploymentCooldown: the gateway reports a deployment in partial
	// or complete outage (litellm_deployment_state >= 1), i.e. cooled down.
	AlertDeploymentCooldown = "AiuptimeDeploymentCooldown"
	// AlertHighErrorRate: the gateway's error ratio over the direct window
	// is above Thresholds.ErrorRate (seed: 5 %).
	AlertHighErrorRate = "AiuptimeHighErrorRate"
	// AlertHighLatencyP95: the gateway's p95 request latency over the direct
	// window is above Thresholds.LatencyP95 (seed: 5 s).
	AlertHighLatencyP95 = "AiuptimeHighLatencyP95"
	// AlertLowAvailability: the gateway's success ratio over the direct
	// window is below Thresholds.Availability (seed: 99.5 %).
	AlertLowAvailability = "AiuptimeLowAvailability"
	// AlertErrorBudgetBurnPage: the availability SLO's error budget burns
	// fast (14.4x over 1h and 5m, or 6x over 6h and 30m, scaled).
	AlertErrorBudgetBurnPage = "AiuptimeErrorBudgetBurnPage"
	// AlertErrorBudgetBurnTicket: the availability SLO's error budget burns
	// slowly (3x over 1d and 2h, or 1x over 3d and 6h, scaled).
	AlertErrorBudgetBurnTicket = "AiuptimeErrorBudgetBurnTicket"
	// AlertLatencyBudgetBurnPage: like AlertErrorBudgetBurnPage for the
	// latency SLO (requests slower than the threshold are the bad events).
	AlertLatencyBudgetBurnPage = "AiuptimeLatencyBudgetBurnPage"
	// AlertLatencyBudgetBurnTicket: like AlertErrorBudgetBurnTicket for the
	// latency SLO.
	AlertLatencyBudgetBurnTicket = "AiuptimeLatencyBudgetBurnTicket"
)

// Labels the generated scrape configuration puts on every target, and that
// the rules select on.
const (
	LabelService = "service"
	LabelRole    = "role"
	RoleGateway  = "gateway"
	RoleModel    = "model"
)

// Severities put on alerts as the "severity" label.
const (
	SeverityPage   = "page"
	SeverityTicket = "ticket"
)

// Defaults.
const (
	// DefaultScrapeInterval is the drill scrape and evaluation interval.
	DefaultScrapeInterval = time.Second
	// MinStallScrapes is the shortest stall window in scrape intervals.
	MinStallScrapes = 5
	// DefaultDirectWindow is the (unscaled) rate window of the direct alerts.
	DefaultDirectWindow = 5 * time.Minute
	// DefaultLatencyP95 is the seed's p95 alert threshold.
	DefaultLatencyP95 = 5 * time.Second
	// DefaultErrorRate is the seed's error-rate alert threshold.
	DefaultErrorRate = 0.05
	// DefaultAvailability is the seed's availability alert threshold.
	DefaultAvailability = 0.995
	// MinWindowScrapes is how many scrape intervals a rate window must span
	// at least; shorter scaled windows are clamped up to it.
	MinWindowScrapes = 2
)

// Thresholds are the seed's direct (non-SLO) alert thresholds.
type Thresholds struct {
	LatencyP95   time.Duration // default DefaultLatencyP95
	ErrorRate    float64       // default DefaultErrorRate
	Availability float64       // default DefaultAvailability
	// Window is the unscaled rate window; default DefaultDirectWindow.
	Window time.Duration
	// For is how long a direct condition must hold before firing (unscaled,
	// default 0: fire on the first evaluation).
	For time.Duration
}

// Metrics names the gateway metrics the SLIs are built on. A counter name
// without "_total" also matches the name with it (prometheus_client adds it).
type Metrics struct {
	Total, Failed   string
	Latency         string // histogram base name (without _bucket)
	DeploymentState string
	EngineMetric    string // a model server gauge that exists while its engine runs
	// Running and Tokens: in-flight requests gauge and generated tokens
	// counter of a model server (the stall alert).
	Running, Tokens string
}

// DefaultMetrics are LiteLLM's and vLLM's names.
var DefaultMetrics = Metrics{
	Total:           "litellm_proxy_total_requests_metric",
	Failed:          "litellm_proxy_failed_requests_metric",
	Latency:         "litellm_request_total_latency_metric",
	DeploymentState: "litellm_deployment_state",
	EngineMetric:    "vllm:num_requests_running",
	Running:         "vllm:num_requests_running",
	Tokens:          "vllm:generation_tokens",
}

// Spec is everything Generate needs.
type Spec struct {
	// Name identifies the SLO in the "slo" label; [a-zA-Z0-9_-]+ (default
	// "gateway").
	Name string
	// SLO is the objectives: availability (else error_rate) sets the error
	// budget, latency_p95 (else latency_p99) the latency SLI.
	SLO        slo.Spec
	Thresholds Thresholds
	// Scale divides every window (720 turns 1h into 5s); 0 or 1 is real time.
	Scale float64
	// ScrapeInterval is the scrape and rule evaluation interval; default
	// DefaultScrapeInterval. No window is shorter than MinWindowScrapes of it.
	ScrapeInterval time.Duration
	// LatencyBucket is the le bound (seconds) of the latency histogram bucket
	// used as the latency SLI threshold, as chosen by PickBucket from the
	// exposed buckets. Zero omits the latency SLO rules.
	LatencyBucket float64
	// Windows default to the SRE workbook's 30-day windows
	// (slo.GoogleWindows).
	Windows []slo.AlertWindow
	// Metrics default to DefaultMetrics (fields left empty take the default).
	Metrics Metrics
}

// Result is a generated rule file plus notes on what was adjusted (clamped
// windows, omitted rules) that the caller should log or report.
type Result struct {
	File  File
	Notes []string
}

// File is a Prometheus rule file.
type File struct {
	Groups []Group `yaml:"groups"`
}

// Group is a rule group.
type Group struct {
	Name     string `yaml:"name"`
	Interval string `yaml:"interval,omitempty"`
	Rules    []Rule `yaml:"rules"`
}

// Rule is a recording rule (Record set) or an alerting rule (Alert set).
type Rule struct {
	Record      string            `yaml:"record,omitempty"`
	Alert       string            `yaml:"alert,omitempty"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// Name is the rule's alert or record name.
func (r Rule) Name() string {
	if r.Alert != "" {
		return r.Alert
	}
	return r.Record
}

// YAML renders the file.
func (f File) YAML() ([]byte, error) {
	b, err := yaml.MarshalWithOptions(f, yaml.UseLiteralStyleIfMultiline(true))
	if err != nil {
		return nil, fmt.Errorf("marshal rule file: %w", err)
	}
	return b, nil
}

// Alerts lists the alert names in the file, in order.
func (f File) Alerts() []string {
	var out []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out = append(out, r.Alert)
			}
		}
	}
	return out
}

// ErrInvalidSpec wraps every Spec validation error.
var ErrInvalidSpec = errors.New("invalid rule spec")

var sloName = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// Scaled divides d by scale, rounds to a millisecond and clamps it to
// MinWindowScrapes scrape intervals. clamped reports the clamp.
func Scaled(d time.Duration, scale float64, scrape time.Duration) (w time.Duration, clamped bool) {
	if scale > 1 {
		d = time.Duration(float64(d) / scale).Round(time.Millisecond)
	}
	if min := MinWindowScrapes * scrape; d < min {
		return min, true
	}
	return d, false
}

func promDur(d time.Duration) string { return model.Duration(d).String() }

// fmtFloat prints f rounded to 12 significant digits, so 1-0.95 prints as
// 0.05 and not 0.050000000000000044.
func fmtFloat(f float64) string {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 12, 64), 64)
	return strconv.FormatFloat(r, 'g', -1, 64)
}

// counterSel selects a counter by name, with or without the _total suffix.
func counterSel(name string) string {
	if strings.HasSuffix(name, "_total") {
		return name
	}
	return fmt.Sprintf(`{__name__=~"%s(_total)?"}`, promEscape(regexp.QuoteMeta(name)))
}

// promEscape escapes backslashes for a double-quoted PromQL string.
func promEscape(s string) string { return strings.ReplaceAll(s, `\`, `\\`) }

// LeMatcher returns a regular expression matching the le label of bucket
// bound b however the exporter formatted it ("2", "2.0", "2.50").
func LeMatcher(b float64) string {
	s := strconv.FormatFloat(b, 'f', -1, 64)
	if strings.Contains(s, ".") {
		return regexp.QuoteMeta(s) + "0*"
	}
	return regexp.QuoteMeta(s) + `(\.0*)?`
}

// PickBucket chooses the latency SLI bucket for threshold among the exposed
// bucket bounds (seconds): the smallest finite bound >= threshold, so that a
// request counted as good is never slower than the next bound. It fails when
// no finite bound reaches the threshold.
func PickBucket(bounds []float64, threshold time.Duration) (float64, error) {
	t := threshold.Seconds()
	bs := append([]float64(nil), bounds...)
	sort.Float64s(bs)
	for _, b := range bs {
		if !math.IsInf(b, 0) && b >= t {
			return b, nil
		}
	}
	return 0, fmt.Errorf("no histogram bucket >= %s among %v", threshold, bounds)
}

func (s *Spec) defaults() error {
	if s.ScrapeInterval <= 0 {
		s.ScrapeInterval = DefaultScrapeInterval
	}
	if s.Scale < 0 || math.IsNaN(s.Scale) || math.IsInf(s.Scale, 0) {
		return fmt.Errorf("%w: scale %v must be >= 0", ErrInvalidSpec, s.Scale)
	}
	if s.Name == "" {
		s.Name = "gateway"
	}
	if !sloName.MatchString(s.Name) {
		return fmt.Errorf("%w: slo name %q must match %s", ErrInvalidSpec, s.Name, sloName)
	}
	fraction := func(p *units.Percent) float64 {
		if p == nil {
			return 0
		}
		return p.Fraction()
	}
	for name, v := range map[string]float64{"availability": fraction(s.SLO.Availability), "error rate": fraction(s.SLO.ErrorRate),
		"error rate threshold": s.Thresholds.ErrorRate, "availability threshold": s.Thresholds.Availability} {
		if v < 0 || v >= 1 || math.IsNaN(v) {
			return fmt.Errorf("%w: %s %v must be a fraction in [0, 1)", ErrInvalidSpec, name, v)
		}
	}
	if s.Thresholds.LatencyP95 == 0 {
		s.Thresholds.LatencyP95 = DefaultLatencyP95
	}
	if s.Thresholds.ErrorRate == 0 {
		s.Thresholds.ErrorRate = DefaultErrorRate
	}
	if s.Thresholds.Availability == 0 {
		s.Thresholds.Availability = DefaultAvailability
	}
	if s.Thresholds.Window == 0 {
		s.Thresholds.Window = DefaultDirectWindow
	}
	if s.Windows == nil {
		s.Windows = slo.GoogleWindows(1)
	}
	d := DefaultMetrics
	m := &s.Metrics
	for _, p := range []struct {
		f   *string
		def string
	}{{&m.Total, d.Total}, {&m.Failed, d.Failed},
		{&m.Latency, d.Latency}, {&m.DeploymentState, d.DeploymentState}, {&m.EngineMetric, d.EngineMetric},
		{&m.Running, d.Running}, {&m.Tokens, d.Tokens}} {
		if *p.f == "" {
			*p.f = p.def
		}
	}
	return nil
}

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
