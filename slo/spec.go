package slo

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/aiuptime/aiuptime/uptime"
)

// Percent is a fraction 0..1 written in plans as a percentage: 99.5,
// "99.5%" and "1%" all read as percent.
type Percent float64

// Fraction returns the 0..1 value.
func (p Percent) Fraction() float64 { return float64(p) }

// String formats p as "99.5%".
func (p Percent) String() string { return strconv.FormatFloat(float64(p)*100, 'f', -1, 64) + "%" }

// MarshalJSON writes p as "99.5%".
func (p Percent) MarshalJSON() ([]byte, error) { return json.Marshal(p.String()) }

// MarshalYAML writes p as "99.5%".
func (p Percent) MarshalYAML() (any, error) { return p.String(), nil }

// UnmarshalJSON reads a number (percent) or a "N%" string.
func (p *Percent) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	f, err := parsePercent(v)
	*p = Percent(f)
	return err
}

// UnmarshalYAML reads a number (percent) or a "N%" string.
func (p *Percent) UnmarshalYAML(b []byte) error {
	var v any
	if err := yamlUnmarshal(b, &v); err != nil {
		return err
	}
	f, err := parsePercent(v)
	*p = Percent(f)
	return err
}

// Duration is a time.Duration written as "2s", "500ms" (or a number of
// seconds).
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as "2s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// MarshalYAML writes d as "2s".
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalJSON reads "2s" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	x, err := parseDuration(v)
	*d = Duration(x)
	return err
}

// UnmarshalYAML reads "2s" or a number of seconds.
func (d *Duration) UnmarshalYAML(b []byte) error {
	var v any
	if err := yamlUnmarshal(b, &v); err != nil {
		return err
	}
	x, err := parseDuration(v)
	*d = Duration(x)
	return err
}

// yamlUnmarshal is yaml.Unmarshal that turns a decoder panic (goccy/go-yaml
// v1.18 panics on some malformed tagged input, found by fuzzing) into an
// error.
func yamlUnmarshal(b []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed yaml: %v", r)
		}
	}()
	return yaml.Unmarshal(b, v)
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

func parsePercent(v any) (float64, error) {
	f, ok := number(v)
	if !ok {
		s, isStr := v.(string)
		if !isStr {
			return 0, fmt.Errorf("invalid percentage %v: want a number or \"N%%\"", v)
		}
		var err error
		f, err = strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%")), 64)
		if err != nil {
			return 0, fmt.Errorf("invalid percentage %q", s)
		}
	}
	if math.IsNaN(f) || f < 0 || f > 100 {
		return 0, fmt.Errorf("percentage %v is out of range [0, 100]", f)
	}
	return f / 100, nil
}

func parseDuration(v any) (time.Duration, error) {
	var d time.Duration
	if f, ok := number(v); ok {
		d = time.Duration(f * float64(time.Second))
	} else if s, ok := v.(string); ok {
		var err error
		if d, err = time.ParseDuration(strings.TrimSpace(s)); err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
	} else {
		return 0, fmt.Errorf("invalid duration %v: want e.g. \"2s\"", v)
	}
	if d <= 0 {
		return 0, fmt.Errorf("duration %v must be positive", d)
	}
	return d, nil
}

// Spec is a plan's `slo:` block. Unset objectives are not judged.
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
type Spec struct {
	// Availability is the least fraction of requests that must succeed.
	Availability *Percent `yaml:"availability,omitempty" json:"availability,omitempty"`
	// LatencyP95 is the largest allowed p95 end-to-end latency.
	LatencyP95 Duration `yaml:"latency_p95,omitempty" json:"latency_p95,omitempty"`
	// LatencyP99 is the largest allowed p99 end-to-end latency.
	LatencyP99 Duration `yaml:"latency_p99,omitempty" json:"latency_p99,omitempty"`
	// ErrorRate is the largest allowed fraction of failed requests.
	ErrorRate *Percent `yaml:"error_rate,omitempty" json:"error_rate,omitempty"`
	// RecoveryTime is the longest outage allowed.
	RecoveryTime Duration `yaml:"recovery_time,omitempty" json:"recovery_time,omitempty"`
	// TTFTP95 is the largest allowed p95 time to first token.
	TTFTP95 Duration `yaml:"ttft_p95,omitempty" json:"ttft_p95,omitempty"`
	// Throughput is the least number of good requests per second.
	Throughput float64 `yaml:"throughput,omitempty" json:"throughput,omitempty"`
	// Goodput sets per-request criteria and the attainment required.
	Goodput *GoodputSpec `yaml:"goodput,omitempty" json:"goodput,omitempty"`
}

// GoodputSpec is the goodput block: a request is good when it succeeded and
// met every limit set.
type GoodputSpec struct {
	TTFT    Duration `yaml:"ttft,omitempty" json:"ttft,omitempty"`
	TPOT    Duration `yaml:"tpot,omitempty" json:"tpot,omitempty"`
	Latency Duration `yaml:"latency,omitempty" json:"latency,omitempty"`
	// Attainment is the least fraction of requests that must be good.
	Attainment *Percent `yaml:"attainment,omitempty" json:"attainment,omitempty"`
	// MinRPS is the least rate of good requests per second.
	MinRPS float64 `yaml:"min_rps,omitempty" json:"min_rps,omitempty"`
}

// UnmarshalYAML decodes strictly: unknown keys and bad values are errors
// naming the field (e.g. "slo.error_rate: invalid percentage \"lots\"").
func (s *Spec) UnmarshalYAML(b []byte) error {
	var m map[string]any
	if err := yamlUnmarshal(b, &m); err != nil {
		return fmt.Errorf("slo: %w", err)
	}
	return s.fromMap(m)
}

// UnmarshalJSON decodes strictly, like UnmarshalYAML.
func (s *Spec) UnmarshalJSON(b []byte) error {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("slo: %w", err)
	}
	return s.fromMap(m)
}

// ParseSpec decodes an `slo:` block's YAML (or JSON) content.
func ParseSpec(b []byte) (Spec, error) {
	var s Spec
	err := s.UnmarshalYAML(b)
	return s, err
}

func keysOf(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (s *Spec) fromMap(m map[string]any) error {
	*s = Spec{}
	for _, k := range keysOf(m) {
		v := m[k]
		field := "slo." + k
		var err error
		switch k {
		case "availability":
			var f float64
			if f, err = parsePercent(v); err == nil {
				p := Percent(f)
				s.Availability = &p
			}
		case "error_rate":
			var f float64
			if f, err = parsePercent(v); err == nil {
				p := Percent(f)
				s.ErrorRate = &p
			}
		case "latency_p95":
			s.LatencyP95, err = durationField(v)
		case "latency_p99":
			s.LatencyP99, err = durationField(v)
		case "recovery_time":
			s.RecoveryTime, err = durationField(v)
		case "ttft_p95":
			s.TTFTP95, err = durationField(v)
		case "throughput":
			f, ok := number(v)
			if !ok || !(f > 0) {
				err = fmt.Errorf("invalid throughput %v: want a positive number of requests per second", v)
			}
			s.Throughput = f
		case "goodput":
			s.Goodput, err = goodputFrom(v)
			if err != nil {
				return fmt.Errorf("%s%w", field, err)
			}
		default:
			return fmt.Errorf("%s: unknown field (known: availability, latency_p95, latency_p99, error_rate, recovery_time, ttft_p95, throughput, goodput)", field)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
	}
	return nil
}

func durationField(v any) (Duration, error) {
	d, err := parseDuration(v)
	return Duration(d), err
}

func goodputFrom(v any) (*GoodputSpec, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf(": want a mapping, got %T", v)
	}
	g := &GoodputSpec{}
	for _, k := range keysOf(m) {
		var err error
		switch k {
		case "ttft":
			g.TTFT, err = durationField(m[k])
		case "tpot":
			g.TPOT, err = durationField(m[k])
		case "latency":
			g.Latency, err = durationField(m[k])
		case "attainment":
			var f float64
			if f, err = parsePercent(m[k]); err == nil {
				p := Percent(f)
				g.Attainment = &p
			}
		case "min_rps":
			f, ok := number(m[k])
			if !ok || !(f > 0) {
				err = fmt.Errorf("invalid min_rps %v: want a positive number", m[k])
			}
			g.MinRPS = f
		default:
			return nil, fmt.Errorf(".%s: unknown field (known: ttft, tpot, latency, attainment, min_rps)", k)
		}
		if err != nil {
			return nil, fmt.Errorf(".%s: %w", k, err)
		}
	}
	if g.TTFT == 0 && g.TPOT == 0 && g.Latency == 0 {
		return nil, fmt.Errorf(": set at least one of ttft, tpot, latency")
	}
	return g, nil
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
