package reports

import (
	"fmt"
	"math"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Metric names of the trend's drill.prom (node_exporter textfile collector
// format). Labels stay bounded: plan and stack names, metric names of the
// fixed set Compare and Trend know, priorities.
const (
	MetricTrendRuns             = "aiuptime_trend_runs"
	MetricTrendSlope            = "aiuptime_trend_slope_per_day"
	MetricTrendConfidence       = "aiuptime_trend_confidence"
	MetricTrendCrossing         = "aiuptime_trend_crossing_timestamp_seconds"
	MetricTrendCrossingEarliest = "aiuptime_trend_crossing_earliest_timestamp_seconds"
	MetricTrendCrossingLatest   = "aiuptime_trend_crossing_latest_timestamp_seconds"
	MetricTrendCrossed          = "aiuptime_trend_crossed"
	MetricTrendMaintenance      = "aiuptime_trend_maintenance_suggested"
	MetricTrendLastRunTimestamp = "aiuptime_trend_last_run_timestamp_seconds"
)

// Words shared by the HELP lines.
const (
	trendSlopeUnits = " In the metric's base unit per day: seconds for latencies and MTTR, a 0..1 fraction for availability and error rate, a count for outages."
	trendReaches    = "predicted to reach its threshold, in Unix seconds"
)

// Prom renders t as drill.prom for node_exporter's textfile collector: the
// runs fitted, each fitted metric's slope and confidence, the predicted
// crossing of its threshold (with the interval's earliest and latest),
// whether it is crossed already, and the maintenance suggested. A metric
// outside the fixed set (see the MetricName constants) is left out, so
// the metric label stays bounded; so is a value that is not finite.
func (t *TrendReport) Prom() ([]byte, error) {
	plan, stack := lp("plan", t.Plan), lp("stack", t.Stack)
	var slope, conf, at, earliest, latest, crossed, maint []*dto.Metric
	for _, m := range t.Metrics {
		if !knownMetric(m.Metric) || m.Skipped != "" || m.Method == "" {
			continue
		}
		ml := lp("metric", m.Metric)
		slope = appendFinite(slope, m.SlopePerDay, plan, stack, ml)
		conf = appendFinite(conf, m.Confidence, plan, stack, ml)
		if m.Threshold == nil {
			continue
		}
		c := m.Crossing
		crossed = append(crossed, gv(oneIf(c != nil && c.Crossed), plan, stack, ml))
		if c == nil {
			continue
		}
		at = append(at, gv(unixSeconds(c.At), plan, stack, ml))
		earliest = append(earliest, gv(unixSeconds(c.Earliest), plan, stack, ml))
		if c.Latest != nil {
			latest = append(latest, gv(unixSeconds(*c.Latest), plan, stack, ml))
		}
	}
	for _, s := range t.Suggestions {
		if knownMetric(s.Metric) && (s.Priority == PriorityScheduled || s.Priority == PriorityHigh) {
			maint = append(maint, gv(1, plan, stack, lp("metric", s.Metric), lp("priority", s.Priority)))
		}
	}
	var f promFamilies
	f.gauge(MetricTrendRuns, "Runs of the plan the trend was fitted over.", gv(float64(len(t.Runs)), plan, stack))
	if !t.To.IsZero() {
		f.gauge(MetricTrendLastRunTimestamp, "Start of the newest run the trend was fitted over, in Unix seconds.", gv(unixSeconds(t.To), plan, stack))
	}
	f.gauge(MetricTrendSlope, "Fitted change of each metric per day across the plan's runs (Theil-Sen)."+trendSlopeUnits, slope...)
	f.gauge(MetricTrendConfidence, "Probability (0..1, Mann-Kendall) that each metric is really worsening across the plan's runs.", conf...)
	f.gauge(MetricTrendCrossing, "When each metric's fitted trend is "+trendReaches+"; absent when it is not heading there.", at...)
	f.gauge(MetricTrendCrossingEarliest, "Earliest time, at the slope's confidence interval, each metric is "+trendReaches+".", earliest...)
	f.gauge(MetricTrendCrossingLatest, "Latest time, at the slope's confidence interval, each metric is "+trendReaches+"; absent when the interval allows no crossing.", latest...)
	f.gauge(MetricTrendCrossed, "Whether each metric's fit at the newest run is already past its threshold (1) or not (0).", crossed...)
	f.gauge(MetricTrendMaintenance, fmt.Sprintf("Preventive maintenance suggested for a metric, by priority (scheduled above %.0f %% confidence, high above %.0f %%).",
		MaintenanceScheduled*100, MaintenanceHighPriority*100), maint...)
	return f.text()
}

// knownMetric reports whether name is one of the metrics Trend fits.
func knownMetric(name string) bool {
	for _, d := range metricDefs {
		if d.name == name {
			return true
		}
	}
	return false
}

// appendFinite appends v as a gauge unless it is NaN or infinite.
func appendFinite(ms []*dto.Metric, v float64, labels ...*dto.LabelPair) []*dto.Metric {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ms
	}
	return append(ms, gv(v, labels...))
}

// unixSeconds is t in Unix seconds, to the millisecond.
func unixSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1e3 }
