package units

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// Duration is a time.Duration written with units: "250ms", "1m30s", "28d".
// Zero means unset where a field is optional.
type Duration time.Duration

// ErrOverflow is returned for a duration longer than time.Duration holds
// (about 292 years).
var ErrOverflow = errors.New("duration overflows (the longest is 2562047h47m16.854775807s)")

// durationUnits are the units a duration may use: Go's, plus days and
// weeks (OpenSLO windows such as 28d and 1w).
var durationUnits = map[string]float64{
	"ns": float64(time.Nanosecond), "us": float64(time.Microsecond), "µs": float64(time.Microsecond),
	"μs": float64(time.Microsecond), "ms": float64(time.Millisecond), "s": float64(time.Second),
	"m": float64(time.Minute), "h": float64(time.Hour), "d": float64(24 * time.Hour), "w": float64(7 * 24 * time.Hour),
}

// ParseDuration reads a non-negative duration: numbers with units, in any
// order and sum ("1h30m", "1.5s", "2d12h"). A bare number other than 0 is
// refused: it could mean seconds or nanoseconds.
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "0" {
		return 0, nil
	}
	if in == "" {
		return 0, fmt.Errorf("invalid duration %q: want a number with a unit (ms, s, m, h, d), e.g. 500ms", s)
	}
	if strings.HasPrefix(in, "-") {
		return 0, fmt.Errorf("invalid duration %q: durations are never negative", s)
	}
	total := 0.0
	rest := in
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		num := rest[:i]
		rest = rest[i:]
		j := 0
		for j < len(rest) && !(rest[j] >= '0' && rest[j] <= '9' || rest[j] == '.') {
			j++
		}
		unit := rest[:j]
		rest = rest[j:]
		f, err := parseDecimal(num)
		if err != nil || unit == "" {
			if unit == "" && err == nil && rest == "" && num == in {
				return 0, fmt.Errorf("invalid duration %q: a bare number has no unit (write %ss or %sms)", s, num, num)
			}
			return 0, fmt.Errorf("invalid duration %q: want a number with a unit (ms, s, m, h, d), e.g. 500ms", s)
		}
		mul, ok := durationUnits[unit]
		if !ok {
			return 0, fmt.Errorf("invalid duration %q: unknown unit %q (want ns, us, ms, s, m, h, d or w)", s, unit)
		}
		total += f * mul
	}
	if total > math.MaxInt64 {
		return 0, fmt.Errorf("%q: %w", s, ErrOverflow)
	}
	return time.Duration(math.Round(total)), nil
}

// parseDecimal reads digits with at most one dot.
func parseDecimal(s string) (float64, error) {
	if s == "" || s == "." || strings.Count(s, ".") > 1 {
		return 0, errors.New("not a number")
	}
	var f float64
	_, err := fmt.Sscanf(s, "%g", &f)
	return f, err
}

// DurationFrom reads a duration from a decoded value: a string with units,
// or the number 0.
func DurationFrom(v any) (time.Duration, error) {
	switch t := v.(type) {
	case string:
		return ParseDuration(t)
	case time.Duration:
		if t < 0 {
			return 0, fmt.Errorf("invalid duration %v: durations are never negative", t)
		}
		return t, nil
	}
	if f, ok := number(v); ok {
		if f == 0 {
			return 0, nil
		}
		return 0, fmt.Errorf("invalid duration %v: a bare number has no unit (write %vs or %vms)", f, f, f)
	}
	return 0, fmt.Errorf("want a duration such as 500ms or 2s, got %T", v)
}

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats the duration as Go does ("1m30s").
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML decodes a duration, keeping the node's position on error.
func (d *Duration) UnmarshalYAML(node ast.Node) error {
	return unmarshalYAML(node, "a duration such as 500ms or 2s", ParseDuration, (*time.Duration)(d))
}

// UnmarshalJSON decodes a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	return unmarshalJSON(b, DurationFrom, (*time.Duration)(d))
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// DurationPattern is the JSON Schema pattern of a duration string.
const DurationPattern = `^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h|d|w))+)$`

// JSONSchema describes Duration.
func (Duration) JSONSchema() map[string]any {
	return map[string]any{"type": "string", "pattern": DurationPattern, "examples": []any{"500ms", "2s", "1m30s"}}
}
