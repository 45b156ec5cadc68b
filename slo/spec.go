package slo

import (
	"embed"
	"fmt"
	"time"

	"github.com/aiuptime/aiuptime/internal/typedocs"
	"github.com/aiuptime/aiuptime/internal/yamldoc"
	"github.com/aiuptime/aiuptime/units"
	"github.com/aiuptime/aiuptime/uptime"
)

// Spec is a plan's `slo:` block: the objectives a drill is judged
// against. Unset objectives are not judged.
//
//	slo:
//	  availability: 99.0     # percent of requests ("99%" too)
//	  latency_p95: 2s
//	  latency_p99: 4s
//	  error_rate: 1%
//	  recovery_time: 15s     # longest outage allowed
//	  ttft_p95: 500ms
//	  throughput: 10         # good requests per second
//	  goodput: {ttft: 500ms, tpot: 50ms, latency: 2s, attainment: 95%, min_rps: 5}
//	  rto: 60s               # DR drills: disaster to serving again
//	  rpo: 5m                # DR drills: data a restore may lose, in time
type Spec struct {
	// Availability is the least fraction of probe requests that must succeed, in percent (99.0 or "99%").
	Availability *units.Percent `yaml:"availability,omitempty" json:"availability,omitempty"`
	// LatencyP95 is the largest allowed p95 end-to-end latency.
	LatencyP95 units.Duration `yaml:"latency_p95,omitempty" json:"latency_p95,omitempty"`
	// LatencyP99 is the largest allowed p99 end-to-end latency.
	LatencyP99 units.Duration `yaml:"latency_p99,omitempty" json:"latency_p99,omitempty"`
	// ErrorRate is the largest allowed fraction of failed requests, in percent ("1%" or 1).
	ErrorRate *units.Percent `yaml:"error_rate,omitempty" json:"error_rate,omitempty"`
	// RecoveryTime is the longest outage allowed.
	RecoveryTime units.Duration `yaml:"recovery_time,omitempty" json:"recovery_time,omitempty"`
	// TTFTP95 is the largest allowed p95 time to first token (streaming probes).
	TTFTP95 units.Duration `yaml:"ttft_p95,omitempty" json:"ttft_p95,omitempty"`
	// Throughput is the least rate of good requests per second over the drill.
	Throughput float64 `yaml:"throughput,omitempty" json:"throughput,omitempty"`
	// Goodput sets per-request objectives and how many requests must meet them.
	Goodput *GoodputSpec `yaml:"goodput,omitempty" json:"goodput,omitempty"`
	// RTO is the longest time from disaster to serving again (DR drills, judged against the restore's measured RTO).
	RTO units.Duration `yaml:"rto,omitempty" json:"rto,omitempty"`
	// RPO is the most data, in time, a restore may lose (DR drills, judged against the restore's measured RPO).
	RPO units.Duration `yaml:"rpo,omitempty" json:"rpo,omitempty"`
	// OpenSLO is the path of an OpenSLO v1 file, relative to the plan file and inside its directory: its SLO objectives are judged too (ratioMetric as availability, thresholdMetric lt/lte as latency; what the drill cannot measure is reported as not evaluated).
	OpenSLO string `yaml:"openslo,omitempty" json:"openslo,omitempty"`

	// Loaded is the OpenSLO file once read (the plan loader sets it).
	Loaded *OpenSLO `yaml:"-" json:"-"`
}

// GoodputSpec is a per-request SLO: a request is good when it succeeded and
// met every threshold set here.
type GoodputSpec struct {
	// TTFT is the largest time to first token of a good request.
	TTFT units.Duration `yaml:"ttft,omitempty" json:"ttft,omitempty"`
	// TPOT is the largest time per output token of a good request.
	TPOT units.Duration `yaml:"tpot,omitempty" json:"tpot,omitempty"`
	// Latency is the largest end-to-end latency of a good request.
	Latency units.Duration `yaml:"latency,omitempty" json:"latency,omitempty"`
	// Attainment is the least fraction of requests that must be good, in percent.
	Attainment *units.Percent `yaml:"attainment,omitempty" json:"attainment,omitempty"`
	// MinRPS is the least rate of good requests per second.
	MinRPS float64 `yaml:"min_rps,omitempty" json:"min_rps,omitempty"`
}

// Problem is one invalid value of a spec: Field is its path under the slo
// block ("goodput.ttft").
type Problem struct {
	Field string
	Msg   string
}

// Check returns what is wrong with the spec's values: zero durations,
// percentages that cannot be objectives, a goodput block without criteria.
func (s Spec) Check() []Problem {
	var ps []Problem
	bad := func(field, format string, args ...any) { ps = append(ps, Problem{field, fmt.Sprintf(format, args...)}) }
	if s.Availability != nil && *s.Availability == 0 {
		bad("availability", "0%% is no objective: want more than 0")
	}
	for _, d := range []struct {
		field string
		v     *units.Duration
	}{{"latency_p95", &s.LatencyP95}, {"latency_p99", &s.LatencyP99}, {"recovery_time", &s.RecoveryTime},
		{"ttft_p95", &s.TTFTP95}, {"rto", &s.RTO}, {"rpo", &s.RPO}} {
		if *d.v < 0 {
			bad(d.field, "must be positive, got %s", d.v)
		}
	}
	if s.Throughput < 0 {
		bad("throughput", "must be positive, got %v", s.Throughput)
	}
	if g := s.Goodput; g != nil {
		if g.TTFT == 0 && g.TPOT == 0 && g.Latency == 0 {
			bad("goodput", "set at least one of ttft, tpot, latency")
		}
		if g.Attainment != nil && *g.Attainment == 0 {
			bad("goodput.attainment", "0%% is no objective: want more than 0")
		}
		if g.MinRPS < 0 {
			bad("goodput.min_rps", "must be positive, got %v", g.MinRPS)
		}
	}
	return ps
}

// ParseSpec decodes an `slo:` block's YAML content strictly and checks it;
// errors carry the line and the field ("slo.yaml:2:13: error_rate: ...").
func ParseSpec(b []byte) (Spec, error) {
	var s Spec
	d, err := yamldoc.Parse("slo", b, "an slo block")
	if err != nil {
		return s, err
	}
	if err := d.Decode(&s); err != nil {
		return s, err
	}
	var errs yamldoc.Errors
	for _, p := range s.Check() {
		errs = append(errs, d.Errorf(yamldoc.Path{p.Field}, false, "%s", p.Msg))
	}
	if len(errs) > 0 {
		return s, errs
	}
	return s, nil
}

// LatencyObjective returns the latency percentile and threshold the spec
// sets (p95 first), for alert rules; ok is false when it sets none.
func (s Spec) LatencyObjective() (percentile float64, max time.Duration, ok bool) {
	switch {
	case s.LatencyP95 > 0:
		return 0.95, s.LatencyP95.D(), true
	case s.LatencyP99 > 0:
		return 0.99, s.LatencyP99.D(), true
	}
	return 0, 0, false
}

// ErrorBudget is the allowed bad fraction: 1 - availability, else the error
// rate objective; 0 when neither is set.
func (s Spec) ErrorBudget() float64 {
	if s.Availability != nil {
		return 1 - s.Availability.Fraction()
	}
	if s.ErrorRate != nil {
		return s.ErrorRate.Fraction()
	}
	return 0
}

// Objectives returns the objectives the spec sets, in a fixed order.
func (s Spec) Objectives() []Objective {
	var out []Objective
	if s.Availability != nil {
		out = append(out, Availability(s.Availability.Fraction()))
	}
	if s.LatencyP95 > 0 {
		out = append(out, Latency(0.95, s.LatencyP95.D()))
	}
	if s.LatencyP99 > 0 {
		out = append(out, Latency(0.99, s.LatencyP99.D()))
	}
	if s.ErrorRate != nil {
		out = append(out, ErrorRate(s.ErrorRate.Fraction()))
	}
	if s.RecoveryTime > 0 {
		out = append(out, RecoveryTime(s.RecoveryTime.D()))
	}
	if s.TTFTP95 > 0 {
		out = append(out, TTFT(0.95, s.TTFTP95.D()))
	}
	if s.Throughput > 0 {
		out = append(out, Throughput(s.Throughput))
	}
	if s.RTO > 0 {
		out = append(out, RTO(s.RTO.D()))
	}
	if s.RPO > 0 {
		out = append(out, RPO(s.RPO.D()))
	}
	if s.Loaded != nil {
		out = append(out, s.Loaded.Objectives...)
	}
	if g := s.Goodput; g != nil {
		att := 1.0
		if g.Attainment != nil {
			att = g.Attainment.Fraction()
		}
		out = append(out, Goodput(att))
		if g.MinRPS > 0 {
			out = append(out, GoodputRate(g.MinRPS))
		}
	}
	return out
}

// GoodputCriteria returns the per-request criteria for uptime.WithGoodput
// (zero when the spec has no goodput block).
func (s Spec) GoodputCriteria() uptime.Criteria {
	if s.Goodput == nil {
		return uptime.Criteria{}
	}
	return uptime.Criteria{MaxLatency: s.Goodput.Latency.D(), MaxTTFT: s.Goodput.TTFT.D(), MaxTPOT: s.Goodput.TPOT.D()}
}

//go:embed spec.go
var specSource embed.FS

// SpecDocs returns the doc comments of Spec and GoodputSpec and their
// fields ("Spec.Availability"), for the plan schema.
func SpecDocs() map[string]string { return typedocs.Parse(specSource) }
