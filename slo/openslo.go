package slo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
)

// OpenSLO v1 documents, the subset this harness judges.
type openSLODoc struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name        string `yaml:"name"`
		DisplayName string `yaml:"displayName"`
	} `yaml:"metadata"`
	Spec struct {
		Service   string `yaml:"service"`
		Indicator *struct {
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
			Spec struct {
				RatioMetric     *map[string]any `yaml:"ratioMetric"`
				ThresholdMetric *struct {
					MetricSource struct {
						Type string         `yaml:"type"`
						Spec map[string]any `yaml:"spec"`
					} `yaml:"metricSource"`
				} `yaml:"thresholdMetric"`
			} `yaml:"spec"`
		} `yaml:"indicator"`
		IndicatorRef string `yaml:"indicatorRef"`
		TimeWindow   []struct {
			Duration  string `yaml:"duration"`
			IsRolling bool   `yaml:"isRolling"`
		} `yaml:"timeWindow"`
		BudgetingMethod string `yaml:"budgetingMethod"`
		Objectives      []struct {
			DisplayName   string   `yaml:"displayName"`
			Op            string   `yaml:"op"`
			Value         *float64 `yaml:"value"`
			Target        *float64 `yaml:"target"`
			TargetPercent *float64 `yaml:"targetPercent"`
		} `yaml:"objectives"`
	} `yaml:"spec"`
}

// ParseOpenSLO reads OpenSLO v1 SLO documents (several may share a file,
// separated by ---; other kinds are skipped) into objectives.
//
// A ratioMetric indicator is an availability objective (Timeslices or
// RatioTimeslices budgeting: time-based). A thresholdMetric names what it
// measures in metricSource.spec.query (or the indicator's name): latency,
// ttft, error_rate, throughput, recovery_time or goodput_rate. For
// latency and ttft the objective's target is the percentile and value the
// limit in seconds ("95 % of requests within 2 s" is p95 <= 2 s); for the
// others value is the limit (a fraction for error_rate, req/s for
// throughput, seconds for recovery_time). The time window sets Period.
func ParseOpenSLO(data []byte) ([]Objective, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []Objective
	for n := 1; ; n++ {
		var d openSLODoc
		if err := decodeSafely(dec, &d); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("openslo document %d: %w", n, err)
		}
		if d.Kind != "SLO" {
			continue
		}
		objs, err := d.objectives()
		if err != nil {
			return nil, fmt.Errorf("openslo document %d (%s): %w", n, d.Metadata.Name, err)
		}
		out = append(out, objs...)
	}
	if len(out) == 0 {
		return nil, errors.New("openslo: no SLO document found")
	}
	return out, nil
}

func (d *openSLODoc) objectives() ([]Objective, error) {
	if err := d.checkRequired(); err != nil {
		return nil, err
	}
	period, err := d.period()
	if err != nil {
		return nil, err
	}
	timeBased, err := d.timeBased()
	if err != nil {
		return nil, err
	}
	kind, err := d.kind()
	if err != nil {
		return nil, err
	}
	if len(d.Spec.Objectives) == 0 {
		return nil, errors.New("spec.objectives: at least one required")
	}
	var out []Objective
	for i := range d.Spec.Objectives {
		o, err := d.objective(i, kind, period, timeBased)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// checkRequired checks the apiVersion and that the name and an inline
// indicator are there.
func (d *openSLODoc) checkRequired() error {
	if d.APIVersion != "openslo/v1" {
		return fmt.Errorf("apiVersion %q: want openslo/v1", d.APIVersion)
	}
	if d.Metadata.Name == "" {
		return errors.New("metadata.name: required")
	}
	if d.Spec.Indicator == nil {
		if d.Spec.IndicatorRef != "" {
			return fmt.Errorf("spec.indicatorRef %q: only inline indicators are supported", d.Spec.IndicatorRef)
		}
		return errors.New("spec.indicator: required")
	}
	return nil
}

// period is the first time window's duration (0 without one).
func (d *openSLODoc) period() (time.Duration, error) {
	if len(d.Spec.TimeWindow) == 0 {
		return 0, nil
	}
	p, err := parseLongDuration(d.Spec.TimeWindow[0].Duration)
	if err != nil {
		return 0, fmt.Errorf("spec.timeWindow[0].duration: %w", err)
	}
	return p, nil
}

// timeBased says whether the budgeting method counts time slices rather
// than occurrences.
func (d *openSLODoc) timeBased() (bool, error) {
	switch d.Spec.BudgetingMethod {
	case "", "Occurrences":
		return false, nil
	case "Timeslices", "RatioTimeslices":
		return true, nil
	default:
		return false, fmt.Errorf("spec.budgetingMethod %q: want Occurrences, Timeslices or RatioTimeslices", d.Spec.BudgetingMethod)
	}
}

// kind is what the (inline, present) indicator measures: availability for
// a ratioMetric, else what the thresholdMetric's query (or the indicator's
// name) names.
func (d *openSLODoc) kind() (Kind, error) {
	ind := d.Spec.Indicator
	if ind.Spec.RatioMetric != nil {
		return KindAvailability, nil
	}
	if ind.Spec.ThresholdMetric == nil {
		return "", errors.New("spec.indicator.spec: want ratioMetric or thresholdMetric")
	}
	q, _ := ind.Spec.ThresholdMetric.MetricSource.Spec["query"].(string)
	if q == "" {
		q = ind.Metadata.Name
	}
	kind, ok := thresholdKind(q)
	if !ok {
		return "", fmt.Errorf("spec.indicator: thresholdMetric query %q names none of latency, ttft, error_rate, throughput, recovery_time, goodput_rate", q)
	}
	return kind, nil
}

// objective turns spec.objectives[i] into an Objective of kind.
func (d *openSLODoc) objective(i int, kind Kind, period time.Duration, timeBased bool) (Objective, error) {
	ob := d.Spec.Objectives[i]
	at := fmt.Sprintf("spec.objectives[%d]", i)
	var target float64
	switch {
	case ob.Target != nil:
		target = *ob.Target
	case ob.TargetPercent != nil:
		target = *ob.TargetPercent / 100
	default:
		return Objective{}, fmt.Errorf("%s.target: required", at)
	}
	if !(target > 0 && target <= 1) {
		return Objective{}, fmt.Errorf("%s.target %v: want a fraction in (0, 1]", at, target)
	}
	name := d.Metadata.Name
	if ob.DisplayName != "" && len(d.Spec.Objectives) > 1 {
		name += "/" + ob.DisplayName
	}
	o := Objective{Name: name, Kind: kind, Period: period, TimeBased: timeBased}
	if kind == KindAvailability {
		o.Target = target
	} else {
		if ob.Value == nil {
			return Objective{}, fmt.Errorf("%s.value: required for a threshold metric", at)
		}
		if err := checkOp(at, ob.Op, kind); err != nil {
			return Objective{}, err
		}
		o.Target = *ob.Value
		if kind == KindLatency || kind == KindTTFT {
			if target >= 1 {
				return Objective{}, fmt.Errorf("%s.target %v: a percentile must be below 1", at, target)
			}
			o.Percentile = target
		}
	}
	if err := o.Validate(); err != nil {
		return Objective{}, fmt.Errorf("%s: %w", at, err)
	}
	return o, nil
}

// checkOp checks that a threshold objective's op points the way kind
// needs: below the limit, or above it for throughput and goodput.
func checkOp(at, op string, kind Kind) error {
	wantLess := kind.Op() == OpAtMost
	switch op {
	case "lt", "lte":
		if !wantLess {
			return fmt.Errorf("%s.op %q: %s needs gt or gte", at, op, kind)
		}
	case "gt", "gte":
		if wantLess {
			return fmt.Errorf("%s.op %q: %s needs lt or lte", at, op, kind)
		}
	default:
		return fmt.Errorf("%s.op %q: want lt, lte, gt or gte", at, op)
	}
	return nil
}

// decodeSafely turns a decoder panic (goccy/go-yaml v1.18 panics on some
// malformed tagged input, found by fuzzing) into an error.
func decodeSafely(dec *yaml.Decoder, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed yaml: %v", r)
		}
	}()
	return dec.Decode(v)
}

func thresholdKind(q string) (Kind, bool) {
	q = strings.ToLower(q)
	for _, c := range []struct {
		key  string
		kind Kind
	}{
		{"ttft", KindTTFT}, {"first_token", KindTTFT}, {"recovery", KindRecoveryTime},
		{"error", KindErrorRate}, {"goodput", KindGoodputRate}, {"throughput", KindThroughput},
		{"latency", KindLatency}, {"e2e", KindLatency},
	} {
		if strings.Contains(q, c.key) {
			return c.kind, true
		}
	}
	return "", false
}

// parseLongDuration accepts Go durations plus d (days) and w (weeks), as
// OpenSLO windows use ("30d", "1w").
func parseLongDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			f, err := strconv.ParseFloat(n, 64)
			if err != nil || f <= 0 {
				return 0, fmt.Errorf("invalid duration %q", s)
			}
			return time.Duration(f * float64(unit)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return d, nil
}
