package slo

import (
	"fmt"
	"time"
)

// Kind is what an objective measures.
type Kind string

// Objective kinds.
const (
	// KindAvailability: the fraction of good requests (or good slices when
	// TimeBased) must be at least Target.
	KindAvailability Kind = "availability"
	// KindLatency: the Percentile of successful requests' end-to-end
	// latency must be at most Target seconds.
	KindLatency Kind = "latency"
	// KindErrorRate: the fraction of failed requests must be at most Target.
	KindErrorRate Kind = "error_rate"
	// KindThroughput: good requests per second must be at least Target.
	KindThroughput Kind = "throughput"
	// KindRecoveryTime: the longest outage must be at most Target seconds.
	KindRecoveryTime Kind = "recovery_time"
	// KindTTFT: the Percentile of time to first token must be at most Target
	// seconds (streaming probes).
	KindTTFT Kind = "ttft"
	// KindGoodput: the fraction of requests meeting the goodput criteria
	// (errors count against) must be at least Target.
	KindGoodput Kind = "goodput"
	// KindGoodputRate: requests per second meeting the goodput criteria
	// must be at least Target.
	KindGoodputRate Kind = "goodput_rate"
	// KindRTO: a restore's time from disaster to serving again must be at
	// most Target seconds.
	KindRTO Kind = "rto"
	// KindRPO: the data a restore lost, in time, must be at most Target
	// seconds.
	KindRPO Kind = "rpo"
	// KindThreshold: an OpenSLO threshold on a quantity the drill does not
	// measure (Target is the document's value, in its own unit); such an
	// objective is always NotEvaluated.
	KindThreshold Kind = "threshold"
)

// Comparisons an objective asks of its measurement (Kind.Op).
const (
	// OpAtLeast: the measurement must be at least the target.
	OpAtLeast = ">="
	// OpAtMost: the measurement must be at most the target.
	OpAtMost = "<="
)

// Units of targets and measurements (Kind.Unit).
const (
	UnitRatio   = "ratio"   // a 0..1 fraction
	UnitSeconds = "seconds" // a duration in seconds
	UnitRPS     = "req/s"   // requests per second
)

// Op is how a measurement of kind k must relate to its target: OpAtLeast
// for availability, goodput, throughput and goodput_rate, none for
// threshold (its document says, and the drill does not judge it), OpAtMost
// for the rest (latency, TTFT, error rate, recovery time, RTO, RPO).
func (k Kind) Op() string {
	switch k {
	case KindAvailability, KindGoodput, KindThroughput, KindGoodputRate:
		return OpAtLeast
	case KindThreshold:
		return ""
	}
	return OpAtMost
}

// Unit is the unit of kind k's target and measurement: UnitRatio for
// availability, error rate and goodput; UnitRPS for throughput and
// goodput_rate; UnitSeconds for latency, TTFT, recovery time, RTO and RPO;
// none for threshold (the document's own unit).
func (k Kind) Unit() string {
	switch k {
	case KindAvailability, KindErrorRate, KindGoodput:
		return UnitRatio
	case KindThroughput, KindGoodputRate:
		return UnitRPS
	case KindThreshold:
		return ""
	}
	return UnitSeconds
}

// The seed's objectives and alert thresholds.
const (
	DefaultAvailability = 0.999
	DefaultLatencyP95   = 2 * time.Second
	DefaultErrorRate    = 0.001
	DefaultThroughput   = 1000.0 // requests per second

	AlertLatencyP95   = 5 * time.Second
	AlertErrorRate    = 0.05
	AlertAvailability = 0.995
)

// MaxBurnRate stands for an infinite burn rate (errors against a 100 %
// objective), so results stay JSON-encodable.
const MaxBurnRate = 1e6

// Objective is one SLO. Target's unit depends on Kind: a 0..1 fraction for
// availability, error_rate and goodput; requests per second for
// throughput; seconds for latency, ttft and recovery_time.
type Objective struct {
	Name   string  `json:"name"`
	Kind   Kind    `json:"kind"`
	Target float64 `json:"target"`
	// Percentile (0..1) of latency and ttft objectives, e.g. 0.95.
	Percentile float64 `json:"percentile,omitempty"`
	// TimeBased judges availability over time slices instead of requests.
	TimeBased bool `json:"time_based,omitempty"`
	// SliceWindow and SliceTarget are an OpenSLO Timeslices objective's own
	// slices: a slice of SliceWindow is good when at least SliceTarget of
	// its requests succeeded. Zero: the analysis's slices. SliceMean
	// (RatioTimeslices) judges the mean of the slices' success ratios.
	SliceWindow time.Duration `json:"slice_window,omitempty"`
	SliceTarget float64       `json:"slice_target,omitempty"`
	SliceMean   bool          `json:"slice_mean,omitempty"`
	// NotEvaluated, when set, says why the drill cannot judge this
	// objective (an OpenSLO SLI on something its probes do not measure):
	// Evaluate reports it as not evaluated instead of judging it.
	NotEvaluated string `json:"not_evaluated,omitempty"`
	// Period is the period the objective is stated for (OpenSLO's time
	// window); 0 means the run itself. Budget consumption scales with
	// run span / Period.
	Period time.Duration `json:"period,omitempty"`
}

// Availability returns an availability objective (target a 0..1 fraction).
func Availability(target float64) Objective {
	return Objective{Name: "availability", Kind: KindAvailability, Target: target}
}

// Latency returns a latency percentile objective, e.g. Latency(0.95, 2s) is
// named "latency_p95".
func Latency(percentile float64, max time.Duration) Objective {
	return Objective{Name: "latency_" + pName(percentile), Kind: KindLatency, Target: max.Seconds(), Percentile: percentile}
}

// TTFT returns a time-to-first-token percentile objective ("ttft_p95").
func TTFT(percentile float64, max time.Duration) Objective {
	return Objective{Name: "ttft_" + pName(percentile), Kind: KindTTFT, Target: max.Seconds(), Percentile: percentile}
}

// ErrorRate returns an error rate objective (max a 0..1 fraction).
func ErrorRate(max float64) Objective {
	return Objective{Name: "error_rate", Kind: KindErrorRate, Target: max}
}

// Throughput returns a throughput objective in good requests per second.
func Throughput(min float64) Objective {
	return Objective{Name: "throughput", Kind: KindThroughput, Target: min}
}

// RecoveryTime returns a longest-outage objective.
func RecoveryTime(max time.Duration) Objective {
	return Objective{Name: "recovery_time", Kind: KindRecoveryTime, Target: max.Seconds()}
}

// Goodput returns a goodput attainment objective (0..1 fraction); the
// per-request criteria are the analysis's (uptime.WithGoodput).
func Goodput(attainment float64) Objective {
	return Objective{Name: "goodput", Kind: KindGoodput, Target: attainment}
}

// GoodputRate returns an objective on goodput in good requests per second.
func GoodputRate(min float64) Objective {
	return Objective{Name: "goodput_rate", Kind: KindGoodputRate, Target: min}
}

// RTO returns a recovery time objective for DR restores.
func RTO(max time.Duration) Objective {
	return Objective{Name: "rto", Kind: KindRTO, Target: max.Seconds()}
}

// RPO returns a recovery point objective for DR restores.
func RPO(max time.Duration) Objective {
	return Objective{Name: "rpo", Kind: KindRPO, Target: max.Seconds()}
}

// Defaults returns the seed's objectives: 99.9 %, p95 2 s, 0.1 %, 1000 req/s.
func Defaults() []Objective {
	return []Objective{Availability(DefaultAvailability), Latency(0.95, DefaultLatencyP95),
		ErrorRate(DefaultErrorRate), Throughput(DefaultThroughput)}
}

// AlertThresholds returns the seed's alert thresholds as objectives:
// p95 5 s, error rate 5 %, availability 99.5 %.
func AlertThresholds() []Objective {
	return []Objective{Availability(AlertAvailability), Latency(0.95, AlertLatencyP95), ErrorRate(AlertErrorRate)}
}

func pName(p float64) string {
	s := fmt.Sprintf("%g", p*100)
	out := "p"
	for _, c := range s {
		if c != '.' {
			out += string(c)
		}
	}
	return out
}

// Validate checks an objective's fields.
func (o Objective) Validate() error {
	if o.NotEvaluated != "" {
		return nil
	}
	if (o.SliceWindow != 0 && o.SliceWindow < time.Millisecond) || !(o.SliceTarget >= 0 && o.SliceTarget <= 1) {
		return fmt.Errorf("objective %s: slice window %v and slice target %v must be at least 1ms and in [0, 1]", o.Name, o.SliceWindow, o.SliceTarget)
	}
	switch o.Kind {
	case KindAvailability, KindErrorRate, KindGoodput:
		if !(o.Target >= 0 && o.Target <= 1) {
			return fmt.Errorf("objective %s: target %v must be a fraction in [0, 1]", o.Name, o.Target)
		}
	case KindLatency, KindTTFT:
		if !(o.Percentile > 0 && o.Percentile < 1) {
			return fmt.Errorf("objective %s: percentile %v must be in (0, 1)", o.Name, o.Percentile)
		}
		fallthrough
	case KindRecoveryTime, KindThroughput, KindGoodputRate, KindRTO, KindRPO:
		if !(o.Target > 0) {
			return fmt.Errorf("objective %s: target %v must be positive", o.Name, o.Target)
		}
	default:
		return fmt.Errorf("objective %s: unknown kind %q", o.Name, o.Kind)
	}
	if o.Period < 0 {
		return fmt.Errorf("objective %s: period %v must not be negative", o.Name, o.Period)
	}
	return nil
}

// Grade is the seed's letter grade of an availability fraction:
// A+ >= 99.9 %, A >= 99.5 %, B >= 99.0 %, C >= 98.0 %, else D.
func Grade(availability float64) string {
	const eps = 1e-9 // 0.999 must grade A+ despite float rounding
	switch p := availability * 100; {
	case p >= 99.9-eps:
		return "A+"
	case p >= 99.5-eps:
		return "A"
	case p >= 99.0-eps:
		return "B"
	case p >= 98.0-eps:
		return "C"
	}
	return "D"
}
