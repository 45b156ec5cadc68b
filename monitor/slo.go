package monitor

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/common/model"

	"github.com/aiuptime/aiuptime/monitor/rules"
)

// PromView is Prometheus's view of the gateway's SLIs over a window, to set
// beside the probe's view in the report. Counts come from increase(), which
// extrapolates to the window's edges and misses requests served before the
// first scrape of a counter, so small differences from the probe are normal;
// large ones are a monitoring gap.
type PromView struct {
	From, To time.Time
	// Requests and Failed are the gateway's request counters' increase.
	Requests, Failed float64
	// Availability is 1 - Failed/Requests; ErrorRate is Failed/Requests.
	// Both are NaN when there were no requests.
	Availability, ErrorRate float64
	// P95 is histogram_quantile(0.95) over the latency histogram's buckets;
	// P95OK is false when there were no observations.
	P95   time.Duration
	P95OK bool
}

// minIncreaseScrapes is the shortest window QuerySLO reads, in scrape
// intervals: increase() needs two samples.
const minIncreaseScrapes = 2

// QuerySLO reads PromView for [from, to] with instant queries at to. Metric
// names default to rules.DefaultMetrics; pass m to override (empty fields
// keep the default).
func (p *Prometheus) QuerySLO(ctx context.Context, from, to time.Time, m rules.Metrics) (PromView, error) {
	d := rules.DefaultMetrics
	if m.Total == "" {
		m.Total = d.Total
	}
	if m.Failed == "" {
		m.Failed = d.Failed
	}
	if m.Latency == "" {
		m.Latency = d.Latency
	}
	v := PromView{From: from, To: to, Availability: math.NaN(), ErrorRate: math.NaN()}
	w := to.Sub(from).Round(time.Millisecond)
	if min := minIncreaseScrapes * p.o.scrape; w < min {
		return v, fmt.Errorf("query slo: window %s shorter than %d scrape intervals (%s): increase() needs two samples", w, minIncreaseScrapes, min)
	}
	win := model.Duration(w).String()
	// The gateway's series as the generated rules select them (its
	// scrape job), not by the role label this Prometheus adds.
	gw := rules.DefaultSelectors.Gateway.Matchers()
	sel := func(name string) string {
		return fmt.Sprintf(`{__name__=~"%s(_total)?",%s}`, name, gw)
	}
	var err error
	if v.Requests, _, err = p.scalar(ctx, fmt.Sprintf(`sum(increase(%s[%s]))`, sel(m.Total), win), to); err != nil {
		return v, err
	}
	if v.Failed, _, err = p.scalar(ctx, fmt.Sprintf(`sum(increase(%s[%s])) or vector(0)`, sel(m.Failed), win), to); err != nil {
		return v, err
	}
	if v.Requests > 0 {
		v.ErrorRate = v.Failed / v.Requests
		v.Availability = 1 - v.ErrorRate
	}
	q, ok, err := p.scalar(ctx, fmt.Sprintf(`histogram_quantile(0.95, sum by (le) (increase(%s_bucket{%s}[%s])))`,
		m.Latency, gw, win), to)
	if err != nil {
		return v, err
	}
	if ok && !math.IsNaN(q) && !math.IsInf(q, 0) {
		v.P95, v.P95OK = time.Duration(q*float64(time.Second)), true
	}
	return v, nil
}

// scalar runs an instant query expected to give at most one sample.
func (p *Prometheus) scalar(ctx context.Context, q string, at time.Time) (float64, bool, error) {
	val, _, err := p.api.Query(ctx, q, at)
	if err != nil {
		return 0, false, fmt.Errorf("query %s: %w", q, err)
	}
	vec, ok := val.(model.Vector)
	if !ok {
		return 0, false, fmt.Errorf("query %s: unexpected %s", q, val.Type())
	}
	if len(vec) == 0 {
		return 0, false, nil
	}
	return float64(vec[0].Value), true, nil
}
