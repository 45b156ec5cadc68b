package reports

// Metric names used by Compare and Trend.
const (
	MetricNameAvailability = "availability"
	MetricNameErrorRate    = "error_rate"
	MetricNameLatencyP50   = "latency_p50"
	MetricNameLatencyP95   = "latency_p95"
	MetricNameLatencyP99   = "latency_p99"
	MetricNameTTFTP95      = "ttft_p95"
	MetricNameMTTR         = "mttr"
	MetricNameOutages      = "outages"
)

// metricDef describes one comparable measure of a Report.
type metricDef struct {
	name           string
	unit           string
	higherIsBetter bool
	// get returns the measure, ok false when the run has none (MTTR of a
	// run without outages); missing says so in words.
	get     func(*Report) (float64, bool)
	missing string
}

// always wraps a measure every run has.
func always(f func(*Report) float64) func(*Report) (float64, bool) {
	return func(r *Report) (float64, bool) { return f(r), true }
}

// measured wraps a percentile a run may not have measured (TTFT without a
// streamed request): pick returns the quantiles and the percentile.
func measured(pick func(*Report) (Quantiles, float64)) func(*Report) (float64, bool) {
	return func(r *Report) (float64, bool) {
		q, v := pick(r)
		return v, q.Measured()
	}
}

var metricDefs = []metricDef{
	{MetricNameAvailability, "ratio", true, always(func(r *Report) float64 { return r.Availability.RequestBased }), ""},
	{MetricNameErrorRate, "ratio", false, always(func(r *Report) float64 { return r.Requests.ErrorRate() }), ""},
	{MetricNameLatencyP50, "seconds", false, measured(func(r *Report) (Quantiles, float64) { return r.Latency, r.Latency.P50 }), NotMeasured},
	{MetricNameLatencyP95, "seconds", false, measured(func(r *Report) (Quantiles, float64) { return r.Latency, r.Latency.P95 }), NotMeasured},
	{MetricNameLatencyP99, "seconds", false, measured(func(r *Report) (Quantiles, float64) { return r.Latency, r.Latency.P99 }), NotMeasured},
	{MetricNameTTFTP95, "seconds", false, measured(func(r *Report) (Quantiles, float64) { return r.TTFT, r.TTFT.P95 }), NotMeasured},
	{MetricNameMTTR, "seconds", false, (*Report).MTTR, NoOutages},
	{MetricNameOutages, "count", false, always(func(r *Report) float64 { return float64(len(r.Outages)) }), ""},
}

// MetricValue returns the named measure of r (see the MetricName
// constants); known is false for an unknown name. A measure r does not
// have (MTTR without outages, TTFT not measured) is 0 with known true: use
// Compare or Trend, which leave it out, to judge it.
func MetricValue(r *Report, name string) (v float64, known bool) {
	for _, d := range metricDefs {
		if d.name == name {
			v, _ := d.get(r)
			return v, true
		}
	}
	return 0, false
}
