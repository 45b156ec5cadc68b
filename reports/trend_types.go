package reports

import (
	"errors"
	"time"
)

// Trend defaults (drill report --trend's flags override them).
const (
	// DefaultTrendMinRuns is the fewest runs a trend is fitted over.
	DefaultTrendMinRuns = 5
	// DefaultTrendMinSpan is the shortest span of start times a trend is
	// fitted over: runs minutes apart say nothing about a slope per day.
	DefaultTrendMinSpan = 7 * 24 * time.Hour
	// DefaultTrendLevel is the level of the slope's confidence interval.
	DefaultTrendLevel = 0.90
	// MaintenanceScheduled and MaintenanceHighPriority are the confidences
	// above which a predicted crossing gets preventive maintenance
	// scheduled, and scheduled with high priority (the seed's 70 % and
	// 85 %).
	MaintenanceScheduled    = 0.70
	MaintenanceHighPriority = 0.85
)

// Maintenance priorities.
const (
	PriorityScheduled = "scheduled"
	PriorityHigh      = "high"
)

// Sentinels of a trend that cannot be fitted, for callers to branch on
// (the CLI exits 2 with the error's words).
var (
	// ErrMixedPlans: the runs belong to more than one plan (or stack).
	ErrMixedPlans = errors.New("runs of different plans or stacks")
	// ErrTooFewRuns: fewer runs than the minimum.
	ErrTooFewRuns = errors.New("too few runs for a trend")
	// ErrShortSpan: the runs' start times span less than the minimum.
	ErrShortSpan = errors.New("runs span too short a time for a trend")
)

// TrendReport is the trend of one plan on one stack across its runs: a
// robust line per metric, when it crosses its threshold and how sure that
// is, and the preventive maintenance that follows.
type TrendReport struct {
	Plan  string `json:"plan"`
	Stack string `json:"stack,omitempty"`
	// Runs are the runs fitted, oldest first.
	Runs []TrendRun `json:"runs"`
	// From and To are the first and last run's start.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Level is the level of every slope's confidence interval (0.90).
	Level float64 `json:"level"`
	// Now is the time "days until" counts from (the newest run, unless set).
	Now     time.Time     `json:"now"`
	Metrics []MetricTrend `json:"metrics"`
	// Suggestions are preventive maintenance, most urgent first.
	Suggestions []Maintenance `json:"suggestions,omitempty"`
}

// TrendRun is one run of a trend.
type TrendRun struct {
	RunID     string    `json:"run_id,omitempty"`
	StartedAt time.Time `json:"started_at"`
	// Dir is where its report.json was read from.
	Dir string `json:"dir,omitempty"`
}

// TrendPoint is one run's value of a metric.
type TrendPoint struct {
	At    time.Time `json:"at"`
	Value float64   `json:"value"`
}

// MetricTrend is the fit of one metric over the runs that measured it.
type MetricTrend struct {
	Metric string       `json:"metric"`
	Unit   string       `json:"unit"`
	Points []TrendPoint `json:"points"`
	// Skipped says why the metric has no fit (measured by too few runs);
	// the fields below are then zero.
	Skipped string `json:"skipped,omitempty"`
	// Method names the fit ("Theil-Sen").
	Method string `json:"method,omitempty"`
	// SlopePerDay is the fitted change per day; SlopeLow/HighPerDay bound
	// it at Level.
	SlopePerDay     float64 `json:"slope_per_day"`
	SlopeLowPerDay  float64 `json:"slope_low_per_day"`
	SlopeHighPerDay float64 `json:"slope_high_per_day"`
	// Center is the point the line and its band pass through.
	Center TrendPoint `json:"center"`
	// Latest is the fitted value at the newest run.
	Latest float64 `json:"latest"`
	// R2 is the share of the values' variance the line explains.
	R2 float64 `json:"r2"`
	// Direction is worsening or improving when Confidence says so at the
	// level (one-sided), else flat.
	Direction string `json:"direction"`
	// Confidence is the probability, from a Mann-Kendall test, that the
	// metric is really worsening (0..1).
	Confidence float64 `json:"confidence"`
	// Threshold is the limit checked (the plan's SLO, or --threshold).
	Threshold *float64 `json:"threshold,omitempty"`
	// Crossing is when the fit reaches Threshold, if it heads there.
	Crossing *Crossing `json:"crossing,omitempty"`
}

// Crossing is when a metric's fit reaches its threshold.
type Crossing struct {
	// At is when the fitted line reaches the threshold.
	At time.Time `json:"at"`
	// Earliest and Latest bound At with the slope's interval; Latest is
	// null when the slope's interval allows no crossing at all.
	Earliest time.Time  `json:"earliest"`
	Latest   *time.Time `json:"latest"`
	// Crossed is true when the newest fitted value is past the threshold.
	Crossed bool `json:"crossed,omitempty"`
	// Confidence is how sure the crossing is (0..1): the trend's.
	Confidence float64 `json:"confidence"`
}

// Maintenance is a suggested preventive maintenance.
type Maintenance struct {
	Metric string `json:"metric"`
	// Priority is scheduled (confidence above 70 %) or high (above 85 %).
	Priority   string  `json:"priority"`
	Confidence float64 `json:"confidence"`
	// Before is when it must be done by: the earliest predicted crossing.
	Before time.Time `json:"before"`
	// Window is the plan's maintenance window to do it in, if known.
	Window string `json:"window,omitempty"`
	// Reason says why, in one sentence a customer can read.
	Reason string `json:"reason"`
}
