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

// Labels the harness's own scrape configuration (monitor.Config) puts on
// every target. The rules never select on them: a customer's Prometheus
// does not have them (Selectors select instead). service is kept in the
// grouping of per-target alerts, where it is present (prometheus-operator
// adds it too).
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
	// DefaultForScrapes is how many scrape intervals every alert's condition
	// must hold before it fires (the `for:` clause). One failed or late
	// scrape (up == 0 once, a counter sample missing from a rate window)
	// must not page; three consecutive evaluations rule that out and cost
	// 3 s at the drills' 1 s scrapes, 45 s at the common 15 s.
	DefaultForScrapes = 3
	// DefaultRunbookURL is the page the runbook_url annotation points at
	// (the alert name, lower-cased, is its anchor).
	DefaultRunbookURL = "https://github.com/aiuptime/aiuptime/blob/main/monitor/README.md"
	// MinWindowScrapes is how many scrape intervals a rule's rate window
	// spans at least; shorter scaled windows are clamped up to it. Four, as
	// the usual advice for rate() goes: a window of two scrapes holds one
	// counter step, so a ratio over it drops to zero between two sparse
	// errors and an alert's `for:` never completes (seen in the monitoring
	// suite: a 50 % error release behind a gateway whose cooldowns spread
	// the errors about 1.1 s apart stayed pending for 13 s with 2 s windows).
	MinWindowScrapes = 4
)

// Thresholds are the direct (non-SLO) alert thresholds.
type Thresholds struct {
	LatencyP95 time.Duration // default DefaultLatencyP95
	ErrorRate  float64       // default DefaultErrorRate
	// Availability is AiuptimeLowAvailability's threshold; 0 takes the SLO's
	// availability objective, and without one the alert is omitted (noted).
	Availability float64
	// Window is the unscaled rate window; default DefaultDirectWindow.
	Window time.Duration
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
	// Selectors pick the gateway's and the model servers' series; a zero
	// Selector takes its DefaultSelectors entry.
	Selectors Selectors
	// ForScrapes is every alert's `for:` in scrape intervals; default
	// DefaultForScrapes.
	ForScrapes int
	// RunbookURL is the runbook page; default DefaultRunbookURL.
	RunbookURL string
}

// Result is a generated rule file plus notes on what was adjusted (clamped
// windows, omitted rules) that the caller should log or report.
type Result struct {
	File  File
	Notes []string
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
	if s.Thresholds.Availability == 0 && s.SLO.Availability != nil {
		s.Thresholds.Availability = s.SLO.Availability.Fraction()
	}
	if s.ForScrapes == 0 {
		s.ForScrapes = DefaultForScrapes
	}
	if s.ForScrapes < 0 {
		return fmt.Errorf("%w: for scrapes %d must be >= 0", ErrInvalidSpec, s.ForScrapes)
	}
	if s.RunbookURL == "" {
		s.RunbookURL = DefaultRunbookURL
	}
	return s.finishDefaults()
}

// finishDefaults fills the selectors, windows and metric names.
func (s *Spec) finishDefaults() error {
	if s.Selectors.Gateway.IsZero() {
		s.Selectors.Gateway = DefaultSelectors.Gateway
	}
	if s.Selectors.Model.IsZero() {
		s.Selectors.Model = DefaultSelectors.Model
	}
	if err := s.Selectors.Gateway.Validate("gateway"); err != nil {
		return err
	}
	if err := s.Selectors.Model.Validate("model"); err != nil {
		return err
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
