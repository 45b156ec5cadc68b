package reports

import (
	"bytes"
	"sort"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Metric names in drill.prom (node_exporter textfile collector format).
// Labels stay bounded: plan and SLO names, verdicts, outcomes; never URLs
// or error text.
const (
	MetricLastRun       = "aiuptime_drill_last_run_timestamp_seconds"
	MetricDuration      = "aiuptime_drill_duration_seconds"
	MetricVerdict       = "aiuptime_drill_verdict"
	MetricAvailability  = "aiuptime_drill_availability_ratio"
	MetricMTTR          = "aiuptime_drill_mttr_seconds"
	MetricMTBF          = "aiuptime_drill_mtbf_seconds"
	MetricOutages       = "aiuptime_drill_outages"
	MetricRequests      = "aiuptime_drill_requests"
	MetricLatencyP95    = "aiuptime_drill_latency_p95_seconds"
	MetricTTFTP95       = "aiuptime_drill_ttft_p95_seconds"
	MetricSLOCompliant  = "aiuptime_drill_slo_compliant"
	MetricSLOBurnRate   = "aiuptime_drill_slo_burn_rate"
	MetricStepsByStatus = "aiuptime_drill_steps"
	MetricRTO           = "aiuptime_drill_rto_seconds"
	MetricRPO           = "aiuptime_drill_rpo_seconds"
)

// Verdicts lists every verdict, for the one-hot verdict metric.
var Verdicts = []Verdict{VerdictPass, VerdictFail, VerdictError, VerdictAborted}

// Prom renders r as drill.prom for node_exporter's textfile collector.
func Prom(r *Report) ([]byte, error) {
	plan := lp("plan", r.Plan)
	var fams []*dto.MetricFamily
	gauge := func(name, help string, ms ...*dto.Metric) {
		if len(ms) == 0 {
			return
		}
		fams = append(fams, &dto.MetricFamily{Name: &name, Help: &help, Type: dto.MetricType_GAUGE.Enum(), Metric: ms})
	}
	g := func(v float64, labels ...*dto.LabelPair) *dto.Metric {
		return &dto.Metric{Label: labels, Gauge: &dto.Gauge{Value: &v}}
	}
	gauge(MetricLastRun, "When the last drill of the plan finished, in Unix seconds.", g(float64(r.FinishedAt.UnixNano())/1e9, plan))
	gauge(MetricDuration, "Wall time of the last drill.", g(r.DurationSeconds(), plan))
	var vs []*dto.Metric
	for _, v := range Verdicts {
		x := 0.0
		if r.Verdict == v {
			x = 1
		}
		vs = append(vs, g(x, plan, lp("verdict", string(v))))
	}
	gauge(MetricVerdict, "Verdict of the last drill: 1 for the verdict it had, 0 for the others.", vs...)
	gauge(MetricAvailability, "Availability the probe measured during the last drill (0..1).",
		g(r.Availability.RequestBased, plan, lp("basis", "request")),
		g(r.Availability.TimeBased, plan, lp("basis", "time")))
	gauge(MetricMTTR, "Mean time to recovery over the outages of the last drill.", g(r.MTTRSeconds, plan))
	gauge(MetricMTBF, "Mean time between failures during the last drill.", g(r.MTBFSeconds, plan))
	gauge(MetricOutages, "Outages during the last drill.", g(float64(len(r.Outages)), plan))
	var rs []*dto.Metric
	rs = append(rs, g(float64(r.Requests.Total), plan, lp("outcome", "all")), g(float64(r.Requests.Failed), plan, lp("outcome", "failed")))
	outcomes := make([]string, 0, len(r.Requests.ByOutcome))
	for k := range r.Requests.ByOutcome {
		if k != "all" && k != "failed" {
			outcomes = append(outcomes, k)
		}
	}
	sort.Strings(outcomes)
	for _, k := range outcomes {
		rs = append(rs, g(float64(r.Requests.ByOutcome[k]), plan, lp("outcome", k)))
	}
	gauge(MetricRequests, "Probe requests of the last drill by outcome (all, failed, ok, error, timeout, ...).", rs...)
	gauge(MetricLatencyP95, "p95 end-to-end latency of the last drill.", g(r.Latency.P95, plan))
	gauge(MetricTTFTP95, "p95 time to first token of the last drill.", g(r.TTFT.P95, plan))
	var cs, bs []*dto.Metric
	seen := map[string]bool{}
	for _, s := range r.SLO {
		if seen[s.Name] {
			continue
		}
		seen[s.Name] = true
		x := 0.0
		if s.Compliant {
			x = 1
		}
		cs = append(cs, g(x, plan, lp("slo", s.Name)))
		if s.BurnRate != nil {
			bs = append(bs, g(*s.BurnRate, plan, lp("slo", s.Name)))
		}
	}
	gauge(MetricSLOCompliant, "Whether each SLO was met in the last drill (1) or breached (0).", cs...)
	gauge(MetricSLOBurnRate, "Error-budget burn rate of each SLO over the last drill.", bs...)
	counts := map[string]int{StatusPassed: 0, StatusFailed: 0, StatusError: 0, StatusSkipped: 0}
	for _, s := range r.Steps {
		if _, ok := counts[s.Status]; ok {
			counts[s.Status]++
		}
	}
	var ss []*dto.Metric
	for _, st := range []string{StatusPassed, StatusFailed, StatusError, StatusSkipped} {
		ss = append(ss, g(float64(counts[st]), plan, lp("status", st)))
	}
	gauge(MetricStepsByStatus, "Steps of the last drill by status.", ss...)
	if r.DR != nil && r.DR.RTOSeconds != nil {
		gauge(MetricRTO, "Recovery time of the last DR drill.", g(*r.DR.RTOSeconds, plan))
	}
	if r.DR != nil && r.DR.RPOSeconds != nil {
		gauge(MetricRPO, "Recovery point (data lost, in seconds) of the last DR drill.", g(*r.DR.RPOSeconds, plan))
	}
	var buf bytes.Buffer
	for _, f := range fams {
		if _, err := expfmt.MetricFamilyToText(&buf, f); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

func lp(name, value string) *dto.LabelPair { return &dto.LabelPair{Name: &name, Value: &value} }
