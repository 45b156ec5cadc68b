package reports

import (
	"bytes"
	"maps"
	"slices"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Metric names in drill.prom (node_exporter textfile collector format).
// Labels stay bounded: plan and SLO names, verdicts, outcomes; never URLs
// or error text.
const (
	MetricLastRun      = "aiuptime_drill_last_run_timestamp_seconds"
	MetricDuration     = "aiuptime_drill_duration_seconds"
	MetricVerdict      = "aiuptime_drill_verdict"
	MetricAvailability = "aiuptime_drill_availability_ratio"
	MetricMTTR         = "aiuptime_drill_mttr_seconds"
	MetricMTBF         = "aiuptime_drill_mtbf_seconds"
	MetricOutages      = "aiuptime_drill_outages"
	// MetricRequests is every probe request of the last drill, and
	// MetricFailedRequests the failed ones; neither has an outcome label.
	// MetricRequestOutcomes splits MetricRequests by outcome: its outcomes
	// partition the total, so sum without (outcome) equals MetricRequests.
	// They are gauges (the last drill's counts, not running counters), so
	// their names carry no _total: promtool check metrics refuses _total on
	// a gauge.
	MetricRequests        = "aiuptime_drill_probe_requests"
	MetricFailedRequests  = "aiuptime_drill_probe_failed_requests"
	MetricRequestOutcomes = "aiuptime_drill_probe_request_outcomes"
	MetricLatencyP95      = "aiuptime_drill_latency_p95_seconds"
	MetricTTFTP95         = "aiuptime_drill_ttft_p95_seconds"
	MetricITLP95          = "aiuptime_drill_itl_p95_seconds"
	MetricTPOTP95         = "aiuptime_drill_tpot_p95_seconds"
	MetricSLOCompliant    = "aiuptime_drill_slo_compliant"
	MetricSLOBurnRate     = "aiuptime_drill_slo_burn_rate"
	MetricStepsByStatus   = "aiuptime_drill_steps"
	MetricRTO             = "aiuptime_drill_rto_seconds"
	MetricRPO             = "aiuptime_drill_rpo_seconds"
)

// Verdicts lists every verdict, for the one-hot verdict metric.
var Verdicts = []Verdict{VerdictPass, VerdictFail, VerdictError, VerdictAborted}

// Prom renders r as drill.prom for node_exporter's textfile collector.
func Prom(r *Report) ([]byte, error) {
	plan := lp("plan", r.Plan)
	var f promFamilies
	f.gauge(MetricLastRun, "When the last drill of the plan finished, in Unix seconds.", gv(float64(r.FinishedAt.UnixNano())/1e9, plan))
	f.gauge(MetricDuration, "Wall time of the last drill.", gv(r.DurationSeconds(), plan))
	f.gauge(MetricVerdict, "Verdict of the last drill: 1 for the verdict it had, 0 for the others.", verdictGauges(r, plan)...)
	f.gauge(MetricAvailability, "Availability the probe measured during the last drill (0..1).",
		gv(r.Availability.RequestBased, plan, lp("basis", "request")),
		gv(r.Availability.TimeBased, plan, lp("basis", "time")))
	// Without outages there is no MTTR or MTBF: the gauges are left out
	// (absent, not 0 s) and aiuptime_drill_outages says 0.
	if v, ok := r.MTTR(); ok {
		f.gauge(MetricMTTR, "Mean time to recovery over the user-visible outages of the last drill.", gv(v, plan))
	}
	if v, ok := r.MTBF(); ok {
		f.gauge(MetricMTBF, "Mean up time between user-visible outages during the last drill.", gv(v, plan))
	}
	f.gauge(MetricOutages, "Outages during the last drill.", gv(float64(len(r.Outages)), plan))
	f.gauge(MetricRequests, "Probe requests sent during the last drill.", gv(float64(r.Requests.Total), plan))
	f.gauge(MetricFailedRequests, "Probe requests of the last drill that failed or were incomplete.", gv(float64(r.Requests.Failed), plan))
	f.gauge(MetricRequestOutcomes, "Probe requests of the last drill by outcome (ok, error, timeout, truncated, stalled); the outcomes partition "+MetricRequests+".",
		outcomeGauges(r, plan)...)
	// A percentile without samples is left out (absent, not 0 s), like
	// MTTR without outages: TTFT, ITL and TPOT need a streamed request.
	f.gauge(MetricLatencyP95, "p95 end-to-end latency of the last drill.", p95Gauge(r.Latency, plan)...)
	f.gauge(MetricTTFTP95, "p95 time to first token of the last drill (streamed requests).", p95Gauge(r.TTFT, plan)...)
	f.gauge(MetricITLP95, "p95 gap between two tokens of a stream in the last drill.", p95Gauge(r.ITL, plan)...)
	f.gauge(MetricTPOTP95, "p95 time per output token after the first in the last drill (streamed requests).", p95Gauge(r.TPOT, plan)...)
	compliant, burn := sloGauges(r, plan)
	f.gauge(MetricSLOCompliant, "Whether each SLO was met in the last drill (1) or breached (0).", compliant...)
	f.gauge(MetricSLOBurnRate, "Error-budget burn rate of each SLO over the last drill.", burn...)
	f.gauge(MetricStepsByStatus, "Steps of the last drill by status.", stepGauges(r, plan)...)
	if r.DR != nil && r.DR.RTOSeconds != nil {
		f.gauge(MetricRTO, "Recovery time of the last DR drill.", gv(*r.DR.RTOSeconds, plan))
	}
	if r.DR != nil && r.DR.RPOSeconds != nil {
		f.gauge(MetricRPO, "Recovery point (data lost, in seconds) of the last DR drill.", gv(*r.DR.RPOSeconds, plan))
	}
	return f.text()
}

// promFamilies collects gauge families in the order they are rendered.
type promFamilies struct{ fams []*dto.MetricFamily }

// gauge adds a gauge family; one without metrics is left out.
func (f *promFamilies) gauge(name, help string, ms ...*dto.Metric) {
	if len(ms) == 0 {
		return
	}
	f.fams = append(f.fams, &dto.MetricFamily{Name: &name, Help: &help, Type: dto.MetricType_GAUGE.Enum(), Metric: ms})
}

// text renders the families in the text exposition format.
func (f *promFamilies) text() ([]byte, error) {
	var buf bytes.Buffer
	for _, fam := range f.fams {
		if _, err := expfmt.MetricFamilyToText(&buf, fam); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// gv is one gauge value with its labels.
func gv(v float64, labels ...*dto.LabelPair) *dto.Metric {
	return &dto.Metric{Label: labels, Gauge: &dto.Gauge{Value: &v}}
}

// oneIf is 1 when b holds, else 0.
func oneIf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// p95Gauge is q's p95, or nothing when q was not measured (gauge then
// leaves the family out).
func p95Gauge(q Quantiles, plan *dto.LabelPair) []*dto.Metric {
	if !q.Measured() {
		return nil
	}
	return []*dto.Metric{gv(q.P95, plan)}
}

// verdictGauges is the one-hot verdict: 1 for r's verdict, 0 for the others.
func verdictGauges(r *Report, plan *dto.LabelPair) []*dto.Metric {
	var vs []*dto.Metric
	for _, v := range Verdicts {
		vs = append(vs, gv(oneIf(r.Verdict == v), plan, lp("verdict", string(v))))
	}
	return vs
}

// outcomeGauges counts the requests of each outcome, by name. "all" and
// "failed" (keys of reports written before the split) are not outcomes:
// they would count requests twice.
func outcomeGauges(r *Report, plan *dto.LabelPair) []*dto.Metric {
	var rs []*dto.Metric
	for _, k := range slices.Sorted(maps.Keys(r.Requests.ByOutcome)) {
		if k != "all" && k != "failed" {
			rs = append(rs, gv(float64(r.Requests.ByOutcome[k]), plan, lp("outcome", k)))
		}
	}
	return rs
}

// sloGauges are the compliance and, where known, the burn rate of each SLO
// (the first judgement of a name wins).
func sloGauges(r *Report, plan *dto.LabelPair) (compliant, burn []*dto.Metric) {
	seen := map[string]bool{}
	for _, s := range r.SLO {
		if seen[s.Name] || s.NotEvaluated {
			continue
		}
		seen[s.Name] = true
		compliant = append(compliant, gv(oneIf(s.Compliant), plan, lp("slo", s.Name)))
		if s.BurnRate != nil {
			burn = append(burn, gv(*s.BurnRate, plan, lp("slo", s.Name)))
		}
	}
	return compliant, burn
}

// stepGauges counts the steps by status, every status present.
func stepGauges(r *Report, plan *dto.LabelPair) []*dto.Metric {
	statuses := []string{StatusPassed, StatusFailed, StatusError, StatusSkipped}
	counts := map[string]int{}
	for _, s := range r.Steps {
		if slices.Contains(statuses, s.Status) {
			counts[s.Status]++
		}
	}
	var ss []*dto.Metric
	for _, st := range statuses {
		ss = append(ss, gv(float64(counts[st]), plan, lp("status", st)))
	}
	return ss
}

func lp(name, value string) *dto.LabelPair { return &dto.LabelPair{Name: &name, Value: &value} }
