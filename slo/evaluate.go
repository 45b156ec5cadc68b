package slo

import (
	"fmt"
	"math"
	"time"

	"github.com/aiuptime/aiuptime/uptime"
)

// Result is one objective judged against an analysis. Target and Actual
// share the objective's unit (fraction, req/s or seconds).
type Result struct {
	Name       string  `json:"name"`
	Kind       Kind    `json:"kind"`
	Target     float64 `json:"target"`
	Percentile float64 `json:"percentile,omitempty"`
	Actual     float64 `json:"actual"`
	Compliant  bool    `json:"compliant"`
	// NoData is set when the run gave nothing to judge (e.g. a TTFT
	// objective with a non-streaming probe); such a result is not compliant.
	NoData bool `json:"no_data,omitempty"`
	// BurnRate is the observed bad fraction over the allowed bad fraction
	// (1 = spending the budget exactly as fast as allowed). Only for
	// availability, error_rate, latency, ttft and goodput.
	BurnRate float64 `json:"burn_rate"`
	// BudgetConsumed is the fraction of the error budget spent: BurnRate ×
	// span / Period (the run itself when Period is 0). For recovery_time it
	// is the longest outage over the allowed one. BudgetRemaining is
	// 1 - BudgetConsumed (negative when overspent).
	BudgetConsumed  float64 `json:"budget_consumed"`
	BudgetRemaining float64 `json:"budget_remaining"`
	// Alerts is the multiwindow burn-rate evaluation (availability and
	// error_rate objectives).
	Alerts []AlertResult `json:"alerts,omitempty"`
	// Detail says in words what was compared.
	Detail string `json:"detail"`
	// NotEvaluated is set for an objective the drill cannot judge by its
	// nature (Objective.NotEvaluated); Detail then begins "not evaluated:"
	// and says why. Such a result is neither compliant nor breached.
	NotEvaluated bool `json:"not_evaluated,omitempty"`
}

// Option configures Evaluate.
type Option func(*evalOptions) error

type evalOptions struct {
	scale    float64
	windows  []AlertWindow
	rto, rpo *time.Duration
}

// WithDR gives the RTO and RPO a restore measured (nil: not measured), for
// rto and rpo objectives.
func WithDR(rto, rpo *time.Duration) Option {
	return func(o *evalOptions) error {
		o.rto, o.rpo = rto, rpo
		return nil
	}
}

// WithTimeScale divides the alert windows by f, so a 30-day policy can be
// exercised in a drill (f = 720 turns 30 d into 1 h; 1 h into 5 s).
func WithTimeScale(f float64) Option {
	return func(o *evalOptions) error {
		if !(f >= 1) {
			return fmt.Errorf("time scale %v must be at least 1", f)
		}
		o.scale = f
		return nil
	}
}

// WithAlertWindows replaces the Google 30-day windows (before scaling).
func WithAlertWindows(w []AlertWindow) Option {
	return func(o *evalOptions) error {
		o.windows = w
		return nil
	}
}

// Evaluate judges a against every objective, in order.
func Evaluate(a *uptime.Analysis, objectives []Objective, opts ...Option) ([]Result, error) {
	o := evalOptions{scale: 1, windows: GoogleWindows(1)}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("evaluate slo: %w", err)
		}
	}
	windows := scaleWindows(o.windows, o.scale)
	out := make([]Result, 0, len(objectives))
	for _, obj := range objectives {
		if err := obj.Validate(); err != nil {
			return nil, fmt.Errorf("evaluate slo: %w", err)
		}
		out = append(out, evaluate(a, obj, o, windows))
	}
	return out, nil
}

// AllCompliant reports whether every result is compliant (results not
// evaluated aside).
func AllCompliant(rs []Result) bool {
	for _, r := range rs {
		if !r.Compliant && !r.NotEvaluated {
			return false
		}
	}
	return true
}

// burn returns bad/allowed, finite.
func burn(bad, allowed float64) float64 {
	if bad <= 0 {
		return 0
	}
	if allowed <= 0 {
		return MaxBurnRate
	}
	return math.Min(bad/allowed, MaxBurnRate)
}

const eps = 1e-12

// judge holds one objective's evaluation under way.
type judge struct {
	a     *uptime.Analysis
	obj   Objective
	r     Result
	scale float64
}

// budget records the burn rate and the budget it consumed over the span.
func (j *judge) budget(bad, allowed float64) {
	j.r.BurnRate = burn(bad, allowed)
	j.r.BudgetConsumed = j.r.BurnRate * j.scale
}

// noData marks the result as not measured, saying why.
func (j *judge) noData(detail string) {
	j.r.NoData, j.r.Detail = true, detail
}

func evaluate(a *uptime.Analysis, obj Objective, o evalOptions, windows []AlertWindow) Result {
	j := &judge{a: a, obj: obj, r: Result{Name: obj.Name, Kind: obj.Kind, Target: obj.Target, Percentile: obj.Percentile}, scale: 1}
	if j.r.Name == "" {
		j.r.Name = string(obj.Kind)
	}
	if obj.Period > 0 {
		j.scale = float64(a.Span) / float64(obj.Period)
	}
	switch {
	case obj.NotEvaluated != "":
		j.r.NotEvaluated, j.r.Detail = true, "not evaluated: "+obj.NotEvaluated
	case obj.Kind == KindRTO || obj.Kind == KindRPO:
		j.dr(o)
	case a.Total == 0 && obj.Kind != KindRecoveryTime:
		j.noData("no requests were measured")
	default:
		j.measured(windows)
	}
	if j.r.NoData {
		j.r.BudgetConsumed = 0
	}
	j.r.BudgetRemaining = 1 - j.r.BudgetConsumed
	return j.r
}

func (j *judge) measured(windows []AlertWindow) {
	a, obj, r := j.a, j.obj, &j.r
	switch obj.Kind {
	case KindAvailability:
		r.Actual = a.Availability.RequestBased
		what := "request-based"
		if obj.TimeBased {
			r.Actual, what = a.Availability.TimeBased, "time-based"
		}
		if obj.SliceWindow > 0 {
			r.Actual, what = slicedAvailability(a, obj)
		}
		r.Compliant = r.Actual+eps >= obj.Target
		j.budget(1-r.Actual, 1-obj.Target)
		r.Alerts = alerts(a, 1-obj.Target, windows)
		r.Detail = fmt.Sprintf("%s availability %.4f%% vs objective %.4f%% (%d of %d requests failed)",
			what, 100*r.Actual, 100*obj.Target, a.Failed, a.Total)
	case KindErrorRate:
		r.Actual = float64(a.Failed) / float64(a.Total)
		r.Compliant = r.Actual <= obj.Target+eps
		j.budget(r.Actual, obj.Target)
		r.Alerts = alerts(a, obj.Target, windows)
		r.Detail = fmt.Sprintf("error rate %.4f%% vs at most %.4f%%", 100*r.Actual, 100*obj.Target)
	case KindLatency, KindTTFT:
		j.percentile()
	case KindThroughput:
		r.Actual = a.GoodThroughput
		r.Compliant = r.Actual+eps >= obj.Target
		r.Detail = fmt.Sprintf("%.2f good requests/s vs at least %.2f", r.Actual, obj.Target)
	case KindRecoveryTime:
		r.Actual = a.LongestOutage.Seconds()
		r.Compliant = r.Actual <= obj.Target+eps
		r.BudgetConsumed = r.Actual / obj.Target
		r.Detail = fmt.Sprintf("longest outage %.3fs vs at most %.3fs (%d outages)", r.Actual, obj.Target, len(a.Outages))
	case KindGoodputRate, KindGoodput:
		j.goodput()
	}
}

// percentile judges a latency or TTFT percentile. Latency is judged over
// every request, failures at their time to fail: a timeout is what the user
// felt, and judging survivors only would hide exactly the requests an
// outage hurt. TTFT exists only for requests that produced a token.
func (j *judge) percentile() {
	a, obj, r := j.a, j.obj, &j.r
	m, what, over := uptime.MetricLatency, "latency", "requests"
	if obj.Kind == KindTTFT {
		over = "successful requests"
		m, what = uptime.MetricTTFT, "TTFT"
	}
	if a.Count(m) == 0 {
		j.noData(fmt.Sprintf("no %s samples (no successful requests, or a non-streaming probe)", what))
		return
	}
	limit := time.Duration(obj.Target * float64(time.Second))
	r.Actual = a.Quantile(m, obj.Percentile).Seconds()
	r.Compliant = r.Actual <= obj.Target+eps
	j.budget(a.FractionAbove(m, limit), 1-obj.Percentile)
	r.Detail = fmt.Sprintf("%s %s %.3fs vs at most %.3fs over %d %s (%d failed, %d incomplete)",
		what, pName(obj.Percentile), r.Actual, obj.Target, a.Count(m), over, a.E2E.Failed, a.E2E.Incomplete)
}

func (j *judge) goodput() {
	a, obj, r := j.a, j.obj, &j.r
	if a.Goodput.Criteria.IsZero() {
		j.noData("no goodput criteria were set on the analysis")
		return
	}
	if obj.Kind == KindGoodputRate {
		r.Actual = a.Goodput.PerSecond
		r.Compliant = r.Actual+eps >= obj.Target
		r.Detail = fmt.Sprintf("%.2f requests/s met the goodput criteria vs at least %.2f", r.Actual, obj.Target)
		return
	}
	r.Actual = a.Goodput.Attainment
	r.Compliant = r.Actual+eps >= obj.Target
	j.budget(1-r.Actual, 1-obj.Target)
	r.Detail = fmt.Sprintf("%.4f%% of requests met the goodput criteria vs at least %.4f%% (%.2f good/s)",
		100*r.Actual, 100*obj.Target, a.Goodput.PerSecond)
}

// dr judges an RTO or RPO objective against the restore's measurement.
func (j *judge) dr(o evalOptions) {
	obj, r := j.obj, &j.r
	got, what := o.rto, "RTO"
	if obj.Kind == KindRPO {
		got, what = o.rpo, "RPO"
	}
	if got == nil {
		j.noData("no restore measured a " + what + " in this run")
		return
	}
	r.Actual = got.Seconds()
	r.Compliant = r.Actual <= obj.Target+eps
	r.BudgetConsumed = r.Actual / obj.Target
	r.Detail = fmt.Sprintf("%s %.3fs vs at most %.3fs", what, r.Actual, obj.Target)
}

// slicedAvailability judges an objective with its own time slices over
// the run: good slices / slices with requests (a slice is good when at
// least SliceTarget of its requests succeeded), or with SliceMean the mean
// of the slices' success ratios.
func slicedAvailability(a *uptime.Analysis, obj Objective) (float64, string) {
	var slices, good int
	var sum float64
	for from := a.Start; from.Before(a.End); from = from.Add(obj.SliceWindow) {
		total, ok := a.Counts(from, from.Add(obj.SliceWindow))
		if total == 0 {
			continue
		}
		slices++
		ratio := float64(ok) / float64(total)
		sum += ratio
		if ratio+eps >= obj.SliceTarget {
			good++
		}
	}
	if slices == 0 {
		return 0, "time-sliced (no slice had requests)"
	}
	if obj.SliceMean {
		return sum / float64(slices), fmt.Sprintf("mean of %d %s slices'", slices, obj.SliceWindow)
	}
	return float64(good) / float64(slices), fmt.Sprintf("time-sliced (%d of %d %s slices at >= %.4g%% success)",
		good, slices, obj.SliceWindow, 100*obj.SliceTarget)
}
