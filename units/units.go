// Package units holds the value types that plans, stack files, SLOs and
// fault params share, each with one meaning, one parser and one written
// form:
//
//   - Percent: a ratio held as a 0..1 fraction, written as a percentage
//     (99.9 or "99.9%"), in YAML and JSON alike;
//   - Duration: a time.Duration written with units ("500ms", "1m30s",
//     "28d"); a bare number is refused (seconds or nanoseconds?), and an
//     overflow is reported as one;
//   - Size: a count of bytes written as a number or with a binary unit
//     ("16MiB", "512K");
//   - Rate: a bandwidth in bits per second written the way tc writes it
//     ("100kbit", "10mbit", "1gbps").
//
// Each type decodes from YAML keeping the node's position (errors are
// yamldoc errors at file:line:col), from JSON, and from the untyped values
// of a decoded params map (PercentFrom, DurationFrom, ...), and describes
// itself for JSON Schema.
package units

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/aiuptime/aiuptime/internal/yamldoc"
)

// number reads a numeric value of a decoded YAML or JSON document.
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

// unmarshalYAML is the UnmarshalYAML of every value type: it reads a
// scalar node with parse into *dst. A node that is not a scalar is an error
// saying what was wanted; parse's error gets the node's position.
func unmarshalYAML[T any](node ast.Node, want string, parse func(string) (T, error), dst *T) error {
	s, ok := yamldoc.Scalar(node)
	if !ok {
		return yamldoc.NodeError(node, "want %s, got %s", want, yamldoc.Kind(node))
	}
	v, err := parse(s)
	if err != nil {
		return yamldoc.NodeError(node, "%v", err)
	}
	*dst = v
	return nil
}

// unmarshalJSON is the UnmarshalJSON of every value type: it decodes a JSON
// number or string and reads it with from into *dst.
func unmarshalJSON[T any](b []byte, from func(any) (T, error), dst *T) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	var err error
	*dst, err = from(v)
	return err
}

// ---------------------------------------------------------------- Percent

// Percent is a ratio held as a 0..1 fraction and written as a percentage:
// 99.9, "99.9%" and "1%" are accepted (99.9 -> 0.999).
type Percent float64

// ParsePercent reads a percentage from 0 to 100 ("12.5" or "12.5%").
func ParsePercent(s string) (Percent, error) {
	t := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%"))
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid percentage %q: want a number from 0 to 100, optionally with %%", s)
	}
	return percentOf(f)
}

func percentOf(f float64) (Percent, error) {
	if math.IsNaN(f) || f < 0 || f > 100 {
		return 0, fmt.Errorf("percentage %v is out of range 0..100", f)
	}
	// Shift the decimal point in text: 99.9 is 0.999, not 0.9990000000000001.
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', -1, 64)+"e-2", 64)
	return Percent(v), nil
}

// PercentFrom reads a percentage from a decoded value: a number or a string.
func PercentFrom(v any) (Percent, error) {
	if f, ok := number(v); ok {
		return percentOf(f)
	}
	if s, ok := v.(string); ok {
		return ParsePercent(s)
	}
	return 0, fmt.Errorf("want a percentage such as 99.5 or \"1%%\", got %T", v)
}

// Fraction returns the ratio 0..1.
func (p Percent) Fraction() float64 { return float64(p) }

// String formats the percentage ("99.9%").
func (p Percent) String() string {
	return strconv.FormatFloat(p.percent(), 'f', -1, 64) + "%"
}

// UnmarshalYAML decodes a percentage, keeping the node's position on error.
func (p *Percent) UnmarshalYAML(node ast.Node) error {
	return unmarshalYAML(node, "a percentage such as 99.5 or \"1%\"", ParsePercent, p)
}

// UnmarshalJSON decodes a number (percent) or a "N%" string.
func (p *Percent) UnmarshalJSON(b []byte) error { return unmarshalJSON(b, PercentFrom, p) }

// MarshalYAML writes the percentage as a number (99.9).
func (p Percent) MarshalYAML() (any, error) { return p.percent(), nil }

// MarshalJSON writes the percentage as a number (99.9).
func (p Percent) MarshalJSON() ([]byte, error) { return json.Marshal(p.percent()) }

// percent is 100·p rounded to 12 significant digits (0.999*100 is 99.9, not
// 99.89999999999999).
func (p Percent) percent() float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(float64(p)*100, 'g', 12, 64), 64)
	return v
}

// JSONSchema describes Percent.
func (Percent) JSONSchema() map[string]any {
	return map[string]any{"oneOf": []any{
		map[string]any{"type": "number", "minimum": 0, "maximum": 100},
		map[string]any{"type": "string", "pattern": `^[0-9]+(\.[0-9]+)?%?$`},
	}}
}
