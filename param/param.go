// Package param describes and decodes the typed params of plan steps (a
// fault's or an action's `params:`). A kind declares its params once as a
// table of Specs; that one table documents them (`drill list`), describes
// them (plans/schema.json) and decodes them (Decode), so the three cannot
// disagree.
package param

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/units"
)

// Type is the type of a param's value.
type Type string

// Param types.
const (
	Duration Type = "duration" // units.Duration: "500ms"
	Percent  Type = "percent"  // units.Percent: 0..100, "12.5%"
	Size     Type = "size"     // units.Size: bytes, "16MiB"
	Rate     Type = "rate"     // units.Rate: "10mbit"
	Signal   Type = "signal"   // KILL, SIGTERM, 9
	Enum     Type = "enum"     // one of Spec.Enum
	String   Type = "string"
	Service  Type = "service" // the name of a service of the stack under test
	Int      Type = "int"
	Bool     Type = "bool"
	Regexp   Type = "regexp" // a Go regular expression
)

// Spec describes one param.
type Spec struct {
	Name string `json:"name"`
	Type Type   `json:"type"`
	// Unit says what a number means, for documentation ("% of packets").
	Unit string `json:"unit,omitempty"`
	// Default is the value used when the param is not given, written as in
	// a plan ("" when there is none).
	Default string `json:"default,omitempty"`
	// Enum lists the allowed values of an enum.
	Enum     []string `json:"enum,omitempty"`
	Doc      string   `json:"doc"`
	Required bool     `json:"required,omitempty"`
	// Positive refuses zero (durations, percentages, sizes, ints).
	Positive bool `json:"positive,omitempty"`
}

// Error is a problem with one param. Plan validation places it at
// params.<Param> (at the key when Unknown).
type Error struct {
	Param string
	Msg   string
	// Unknown marks a param the kind does not take.
	Unknown bool
}

// Error renders "params.NAME: message".
func (e *Error) Error() string { return "params." + e.Param + ": " + e.Msg }

// Values are decoded params: every given param and every default, typed.
type Values struct {
	v   map[string]any
	set map[string]bool
}

// Decode checks raw (a step's params) against specs: unknown and missing
// params, each value's type and range; defaults fill in what is not given.
// kind names the fault or action in messages. The error is an *Error.
func Decode(kind string, specs []Spec, raw map[string]any) (Values, error) {
	vals := Values{v: map[string]any{}, set: map[string]bool{}}
	names := make([]string, 0, len(raw))
	for k := range raw {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if _, ok := find(specs, k); !ok {
			return vals, &Error{Param: k, Unknown: true, Msg: unknownMsg(kind, specs)}
		}
	}
	for _, s := range specs {
		rv, given := raw[s.Name]
		if !given || rv == nil {
			if s.Required {
				return vals, &Error{Param: s.Name, Msg: "missing (required by " + kind + ")"}
			}
			if s.Default == "" {
				continue
			}
			rv = s.Default
		}
		v, err := s.Parse(rv)
		if err != nil {
			return vals, &Error{Param: s.Name, Msg: err.Error()}
		}
		vals.v[s.Name], vals.set[s.Name] = v, given
	}
	return vals, nil
}

func unknownMsg(kind string, specs []Spec) string {
	if len(specs) == 0 {
		return "unknown param of " + kind + " (it takes none)"
	}
	known := make([]string, len(specs))
	for i, s := range specs {
		known[i] = s.Name
	}
	return "unknown param of " + kind + " (known: " + strings.Join(known, ", ") + ")"
}

func find(specs []Spec, name string) (Spec, bool) {
	for _, s := range specs {
		if s.Name == name {
			return s, true
		}
	}
	return Spec{}, false
}

// Parse reads one value of the spec's type from a decoded YAML value.
func (s Spec) Parse(v any) (any, error) {
	switch s.Type {
	case Duration:
		d, err := units.DurationFrom(v)
		if err == nil && s.Positive && d == 0 {
			err = fmt.Errorf("must be more than 0")
		}
		return d, err
	case Percent:
		p, err := units.PercentFrom(v)
		if err == nil && s.Positive && p == 0 {
			err = fmt.Errorf("must be more than 0%%")
		}
		return p, err
	case Size:
		n, err := units.SizeFrom(v)
		if err == nil && s.Positive && n == 0 {
			err = fmt.Errorf("must be more than 0 bytes")
		}
		return n, err
	case Rate:
		return units.RateFrom(v)
	case Signal:
		return ParseSignal(fmt.Sprint(v))
	case Int:
		return parseInt(v, s.Positive)
	case Bool:
		b, ok := v.(bool)
		if !ok {
			if str, isStr := v.(string); isStr && (str == "true" || str == "false") {
				return str == "true", nil
			}
			return nil, fmt.Errorf("want true or false, got %v", v)
		}
		return b, nil
	}
	str, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("want a string, got %v", v)
	}
	switch s.Type {
	case Enum:
		for _, e := range s.Enum {
			if str == e {
				return str, nil
			}
		}
		return nil, fmt.Errorf("want one of %s, got %q", strings.Join(s.Enum, ", "), str)
	case Service:
		if err := CheckServiceName(str); err != nil {
			return nil, err
		}
	case Regexp:
		re, err := regexp.Compile(str)
		if err != nil {
			return nil, fmt.Errorf("invalid regular expression %q: %v", str, err)
		}
		return re, nil
	}
	return str, nil
}

func parseInt(v any, positive bool) (int64, error) {
	var n int64
	switch t := v.(type) {
	case int:
		n = int64(t)
	case int64:
		n = t
	case uint64:
		if t > math.MaxInt64 {
			return 0, fmt.Errorf("%d overflows (the largest is %d)", t, int64(math.MaxInt64))
		}
		n = int64(t)
	case float64:
		if t != math.Trunc(t) {
			return 0, fmt.Errorf("want a whole number, got %v", t)
		}
		if math.Abs(t) >= math.MaxInt64 {
			return 0, fmt.Errorf("%v overflows (the largest is %d)", t, int64(math.MaxInt64))
		}
		n = int64(t)
	case string:
		var err error
		if n, err = strconv.ParseInt(strings.TrimSpace(t), 10, 64); err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return 0, fmt.Errorf("%s overflows (the largest is %d)", strings.TrimSpace(t), int64(math.MaxInt64))
			}
			return 0, fmt.Errorf("want a whole number, got %q", t)
		}
	default:
		return 0, fmt.Errorf("want a whole number, got %T", v)
	}
	if n < 0 || (positive && n == 0) {
		return 0, fmt.Errorf("%d must be more than 0", n)
	}
	return n, nil
}

// ParseSignal accepts KILL, SIGKILL, kill and 9.
func ParseSignal(s string) (syscall.Signal, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("signal %d is out of range 1..64", n)
		}
		return syscall.Signal(n), nil
	}
	sig := unix.SignalNum("SIG" + strings.TrimPrefix(strings.ToUpper(s), "SIG"))
	if sig == 0 {
		return 0, fmt.Errorf("unknown signal %q (want KILL, TERM, INT, ... or a number)", s)
	}
	return sig, nil
}

// SignalName is the name of a signal without SIG ("KILL").
func SignalName(sig syscall.Signal) string {
	return strings.TrimPrefix(unix.SignalName(sig), "SIG")
}

// Has reports whether the param was given in the plan (not defaulted).
func (v Values) Has(name string) bool { return v.set[name] }

// Duration returns a duration param (0 when absent).
func (v Values) Duration(name string) time.Duration { d, _ := v.v[name].(time.Duration); return d }

// Percent returns a percent param (0 when absent).
func (v Values) Percent(name string) units.Percent { p, _ := v.v[name].(units.Percent); return p }

// Size returns a size param (0 when absent).
func (v Values) Size(name string) units.Size { s, _ := v.v[name].(units.Size); return s }

// Rate returns a rate param (0 when absent).
func (v Values) Rate(name string) units.Rate { r, _ := v.v[name].(units.Rate); return r }

// Signal returns a signal param (0 when absent).
func (v Values) Signal(name string) syscall.Signal { s, _ := v.v[name].(syscall.Signal); return s }

// String returns a string, enum or service param ("" when absent).
func (v Values) String(name string) string { s, _ := v.v[name].(string); return s }

// Int returns an int param (0 when absent).
func (v Values) Int(name string) int64 { n, _ := v.v[name].(int64); return n }

// Bool returns a bool param (false when absent).
func (v Values) Bool(name string) bool { b, _ := v.v[name].(bool); return b }

// Regexp returns a regexp param (nil when absent).
func (v Values) Regexp(name string) *regexp.Regexp { r, _ := v.v[name].(*regexp.Regexp); return r }

// Schema is the JSON Schema of a params object with these specs.
func Schema(specs []Spec) map[string]any {
	props := map[string]any{}
	var required []any
	for _, s := range specs {
		p := s.schema()
		p["description"] = s.Doc
		if s.Default != "" {
			p["default"] = s.Default
		}
		props[s.Name] = p
		if s.Required {
			required = append(required, s.Name)
		}
	}
	out := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}

func (s Spec) schema() map[string]any {
	switch s.Type {
	case Duration:
		return units.DurationSchema(s.Positive)
	case Percent:
		return units.Percent(0).JSONSchema()
	case Size:
		return units.Size(0).JSONSchema()
	case Rate:
		return units.Rate(0).JSONSchema()
	case Signal:
		return map[string]any{"oneOf": []any{
			map[string]any{"type": "string", "pattern": `^(SIG)?[A-Za-z0-9]+$`},
			map[string]any{"type": "integer", "minimum": 1, "maximum": 64},
		}}
	case Enum:
		e := make([]any, len(s.Enum))
		for i, v := range s.Enum {
			e[i] = v
		}
		return map[string]any{"type": "string", "enum": e}
	case Service:
		return map[string]any{"type": "string", "pattern": serviceName.String()}
	case Int:
		min := 0
		if s.Positive {
			min = 1
		}
		return map[string]any{"oneOf": []any{
			map[string]any{"type": "integer", "minimum": min},
			map[string]any{"type": "string", "pattern": `^[0-9]+$`},
		}}
	case Bool:
		return map[string]any{"type": "boolean"}
	}
	return map[string]any{"type": "string"}
}
