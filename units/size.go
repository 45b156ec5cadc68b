package units

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// Size is a count of bytes: a number, or a number with a binary unit
// ("16MiB", "512K", "1G": K, M, G and T are binary like KiB, MiB, GiB, TiB).
type Size int64

// sizeUnits are the suffixes a size may carry, the binary ones first and
// largest first (String writes the first that divides a size exactly); "B"
// comes last, as every "iB" suffix ends with it.
var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1},
}

// ParseSize reads a non-negative byte count with an optional binary unit.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if n, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(t, "-") {
		return 0, fmt.Errorf("size %q overflows (the largest is %d bytes)", s, int64(math.MaxInt64))
	}
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q: want bytes, optionally with a unit (KiB, MiB, GiB)", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q overflows (the largest is %d bytes)", s, int64(math.MaxInt64))
	}
	return Size(n * mult), nil
}

// SizeFrom reads a size from a decoded value: an integer or a string.
func SizeFrom(v any) (Size, error) {
	if s, ok := v.(string); ok {
		return ParseSize(s)
	}
	if f, ok := number(v); ok {
		if f >= math.MaxInt64 {
			return 0, fmt.Errorf("size %v overflows (the largest is %d bytes)", f, int64(math.MaxInt64))
		}
		if f < 0 || f != math.Trunc(f) {
			return 0, fmt.Errorf("invalid size %v: want a whole, non-negative number of bytes", f)
		}
		return Size(f), nil
	}
	return 0, fmt.Errorf("want a size such as 1048576 or \"16MiB\", got %T", v)
}

// Bytes returns the size as an int64.
func (s Size) Bytes() int64 { return int64(s) }

// String formats the size with the largest exact binary unit ("16MiB").
func (s Size) String() string {
	for _, u := range sizeUnits[:4] {
		if s != 0 && int64(s)%u.mult == 0 {
			return strconv.FormatInt(int64(s)/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// UnmarshalYAML decodes a size, keeping the node's position on error.
func (s *Size) UnmarshalYAML(node ast.Node) error {
	return unmarshalYAML(node, "a size such as 1048576 or 16MiB", ParseSize, s)
}

// UnmarshalJSON decodes a number or a string.
func (s *Size) UnmarshalJSON(b []byte) error { return unmarshalJSON(b, SizeFrom, s) }

// MarshalJSON writes the size as a number of bytes.
func (s Size) MarshalJSON() ([]byte, error) { return json.Marshal(int64(s)) }

// MarshalYAML writes the size as a number of bytes.
func (s Size) MarshalYAML() (any, error) { return int64(s), nil }

// JSONSchema describes Size.
func (Size) JSONSchema() map[string]any {
	return map[string]any{"oneOf": []any{
		map[string]any{"type": "integer", "minimum": 0},
		map[string]any{"type": "string", "pattern": `^[0-9]+ ?(B|K|KiB|M|MiB|G|GiB|T|TiB)?$`},
	}}
}

// ---------------------------------------------------------------- Rate

// Rate is a bandwidth in bits per second, written as tc writes it: a number
// with bit, kbit, mbit, gbit, tbit (bits) or bps, kbps, mbps, gbps (bytes).
type Rate uint64

var rateUnits = []struct {
	suffix string
	mult   float64
}{
	{"tbit", 1e12}, {"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3},
	{"gbps", 8e9}, {"mbps", 8e6}, {"kbps", 8e3}, {"bps", 8}, {"bit", 1},
}

// Limits of a rate: tc cannot shape below a byte per second.
const (
	MinRate Rate = 8
	MaxRate Rate = 1e12
)

// ParseRate reads a tc-style rate.
func ParseRate(s string) (Rate, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	for _, u := range rateUnits {
		n, ok := strings.CutSuffix(t, u.suffix)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("rate %q is out of range (8bit..1tbit)", s)
		}
		if err != nil {
			return 0, fmt.Errorf("invalid rate %q: want a number with a unit (kbit, mbit, gbit, kbps, ...)", s)
		}
		bits := v * u.mult
		if math.IsNaN(bits) || bits < float64(MinRate) || bits > float64(MaxRate) {
			return 0, fmt.Errorf("rate %q is out of range (8bit..1tbit)", s)
		}
		return Rate(bits), nil
	}
	return 0, fmt.Errorf("invalid rate %q: it lacks a unit (kbit, mbit, gbit, kbps, mbps, bit)", s)
}

// RateFrom reads a rate from a decoded value (a string).
func RateFrom(v any) (Rate, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("want a rate such as 100kbit or 10mbit, got %v", v)
	}
	return ParseRate(s)
}

// BitsPerSecond returns the rate.
func (r Rate) BitsPerSecond() uint64 { return uint64(r) }

// BytesPerSecond returns the rate in bytes per second (rounded down).
func (r Rate) BytesPerSecond() uint64 { return uint64(r) / 8 }

// String formats the rate with the largest exact bit unit ("10mbit").
func (r Rate) String() string {
	for _, u := range rateUnits[:4] {
		if m := uint64(u.mult); r != 0 && uint64(r)%m == 0 {
			return strconv.FormatUint(uint64(r)/m, 10) + u.suffix
		}
	}
	return strconv.FormatUint(uint64(r), 10) + "bit"
}

// UnmarshalYAML decodes a rate, keeping the node's position on error.
func (r *Rate) UnmarshalYAML(node ast.Node) error {
	return unmarshalYAML(node, "a rate such as 100kbit or 10mbit", ParseRate, r)
}

// UnmarshalJSON decodes a rate string.
func (r *Rate) UnmarshalJSON(b []byte) error { return unmarshalJSON(b, RateFrom, r) }

// MarshalJSON writes the rate as a string ("10mbit").
func (r Rate) MarshalJSON() ([]byte, error) { return json.Marshal(r.String()) }

// MarshalYAML writes the rate as a string.
func (r Rate) MarshalYAML() (any, error) { return r.String(), nil }

// RatePattern is the JSON Schema pattern of a rate.
const RatePattern = `^[0-9]+(\.[0-9]+)? ?([kKmMgGtT]?bit|[kKmMgG]?bps)$`

// JSONSchema describes Rate.
func (Rate) JSONSchema() map[string]any {
	return map[string]any{"type": "string", "pattern": RatePattern, "examples": []any{"100kbit", "10mbit"}}
}
