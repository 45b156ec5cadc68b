package units

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/aiuptime/aiuptime/internal/yamldoc"
)

// Duration is a time.Duration written with units: "250ms", "1m30s", "28d".
// Zero means unset where a field is optional; YAML never sets it to zero.
type Duration time.Duration

// ErrOverflow is returned for a duration longer than time.Duration holds
// (about 292 years).
var ErrOverflow = errors.New("duration overflows (the longest is 2562047h47m16.854775807s)")

// durationUnits are the units a duration may use, in nanoseconds: Go's,
// plus days and weeks (OpenSLO windows such as 28d and 1w).
var durationUnits = map[string]int64{
	"ns": int64(time.Nanosecond), "us": int64(time.Microsecond), "µs": int64(time.Microsecond),
	"μs": int64(time.Microsecond), "ms": int64(time.Millisecond), "s": int64(time.Second),
	"m": int64(time.Minute), "h": int64(time.Hour), "d": int64(24 * time.Hour), "w": int64(7 * 24 * time.Hour),
}

// ParseDuration reads a non-negative duration: numbers with units, in any
// order and sum ("1h30m", "1.5s", "2d12h"), computed exactly (rounded to
// the nanosecond). A bare number other than 0 is refused: it could mean
// seconds or nanoseconds. A sum past the longest time.Duration is
// ErrOverflow, however many digits it takes to get there.
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
	total := new(big.Int)
	for rest := in; rest != ""; {
		i := strings.IndexFunc(rest, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		if i < 0 {
			i = len(rest)
		}
		num, after := rest[:i], rest[i:]
		j := strings.IndexFunc(after, func(r rune) bool { return r >= '0' && r <= '9' || r == '.' })
		if j < 0 {
			j = len(after)
		}
		unit := after[:j]
		rest = after[j:]
		if !decimalRE.MatchString(num) || unit == "" {
			if unit == "" && num == in && decimalRE.MatchString(num) {
				return 0, fmt.Errorf("invalid duration %q: a bare number has no unit (write %ss or %sms)", s, num, num)
			}
			return 0, fmt.Errorf("invalid duration %q: want a number with a unit (ms, s, m, h, d), e.g. 500ms", s)
		}
		mul, ok := durationUnits[unit]
		if !ok {
			return 0, fmt.Errorf("invalid duration %q: unknown unit %q (want ns, us, ms, s, m, h, d or w)", s, unit)
		}
		total.Add(total, nanos(num, mul))
		if !total.IsInt64() {
			return 0, fmt.Errorf("%q: %w", s, ErrOverflow)
		}
	}
	return time.Duration(total.Int64()), nil
}

// decimalRE is a number of a duration: digits with at most one dot.
var decimalRE = regexp.MustCompile(`^([0-9]+(\.[0-9]*)?|\.[0-9]+)$`)

// maxDigits bounds the digits of a number before the dot that can matter:
// more (after leading zeros) always overflows. Fractional digits past the
// nanosecond are dropped before rounding, so a hostile number of a million
// digits costs no more than a short one.
const maxDigits = 20

// nanos is num (a decimal) times unit nanoseconds, rounded half up.
func nanos(num string, unit int64) *big.Int {
	whole, frac, _ := strings.Cut(num, ".")
	whole = strings.TrimLeft(whole, "0")
	if len(whole) > maxDigits {
		return new(big.Int).Lsh(big.NewInt(1), 64) // past any sum that fits
	}
	frac = frac[:min(len(frac), 18)]
	n, _ := new(big.Int).SetString("0"+whole+frac, 10)
	n.Mul(n, big.NewInt(unit))
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac))), nil)
	n.Add(n.Lsh(n, 1), scale) // 2n + scale, over 2·scale: n/scale rounded
	return n.Quo(n, scale.Lsh(scale, 1))
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
// An explicit zero is refused: every Duration of a plan, an SLO or a stack
// file means a positive time, and leaving the field out is how to ask for
// its default (a zero would silently mean "unset": a fault held forever,
// a probe without a timeout).
func (d *Duration) UnmarshalYAML(node ast.Node) error {
	if err := unmarshalYAML(node, "a duration such as 500ms or 2s", ParseDuration, (*time.Duration)(d)); err != nil {
		return err
	}
	if *d == 0 {
		return yamldoc.NodeError(node, "a duration of 0 is refused: give a positive one such as 500ms, or leave the field out")
	}
	return nil
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
const DurationPattern = `^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|μs|ms|s|m|h|d|w))+)$`

// zeroDurationPattern matches the spellings of a zero duration.
const zeroDurationPattern = `^(0|(0+(\.0+)?(ns|us|µs|μs|ms|s|m|h|d|w))+)$`

// JSONSchema describes Duration as plans and stack files write it: a
// positive duration (an explicit zero is refused).
func (Duration) JSONSchema() map[string]any { return DurationSchema(true) }

// DurationSchema is the JSON Schema of a duration string; positive refuses
// the spellings of zero ("0", "0s", "0h0m").
func DurationSchema(positive bool) map[string]any {
	m := map[string]any{"type": "string", "pattern": DurationPattern, "examples": []any{"500ms", "2s", "1m30s"}}
	if positive {
		m["not"] = map[string]any{"pattern": zeroDurationPattern}
	}
	return m
}
