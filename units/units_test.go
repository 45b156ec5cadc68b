package units

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/internal/yamldoc"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"500ms", 500 * time.Millisecond, ""},
		{"1m30s", 90 * time.Second, ""},
		{"1.5s", 1500 * time.Millisecond, ""},
		{"28d", 28 * 24 * time.Hour, ""},
		{"1w2d", 9 * 24 * time.Hour, ""},
		{"0", 0, ""},
		{"0s", 0, ""},
		{"5", 0, "bare number"},
		{"", 0, "want a number with a unit"},
		{"-1s", 0, "never negative"},
		{"3 parsecs", 0, "unknown unit"},
		{"1.2.3s", 0, "want a number with a unit"},
		{"300000y", 0, "unknown unit"},
		{"2562048h", 0, "overflows"},
		{"999999999999999999999s", 0, "overflows"},
		{"2562047h47m16.854775807s", time.Duration(math.MaxInt64), ""},
		{"2562047h47m16.854775808s", 0, "overflows"},
		{"9223372036854775807ns", time.Duration(math.MaxInt64), ""},
		{"9223372036854775808ns", 0, "overflows"},
		{"1000000h" + strings.Repeat("1000000h", 3), 0, "overflows"},
		{strings.Repeat("9", 400) + "s", 0, "overflows"},
		{"0." + strings.Repeat("0", 400) + "1s", 0, ""},
		{strings.Repeat("0", 400) + "1s", time.Second, ""},
		{"1.0000000005s", 1_000_000_001, ""},
		{"0.1ns", 0, ""},
		{"0.5ns", 1, ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDuration(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseDuration(%q) = %v, %v; want error with %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
	if _, err := ParseDuration("2562048h"); !errors.Is(err, ErrOverflow) {
		t.Fatalf("overflow is not ErrOverflow: %v", err)
	}
}

func TestFromDecodedValues(t *testing.T) {
	if p, err := PercentFrom(99.9); err != nil || p.Fraction() != 0.999 {
		t.Fatalf("PercentFrom(99.9) = %v, %v", p, err)
	}
	if p, err := PercentFrom("12.5%"); err != nil || p.Fraction() != 0.125 {
		t.Fatalf("PercentFrom(12.5%%) = %v, %v", p, err)
	}
	for _, bad := range []any{101, -1, "lots", true} {
		if _, err := PercentFrom(bad); err == nil {
			t.Errorf("PercentFrom(%v): want an error", bad)
		}
	}
	if d, err := DurationFrom(0); err != nil || d != 0 {
		t.Fatalf("DurationFrom(0) = %v, %v", d, err)
	}
	if _, err := DurationFrom(5); err == nil || !strings.Contains(err.Error(), "bare number") {
		t.Fatalf("DurationFrom(5): %v", err)
	}
	if s, err := SizeFrom("16MiB"); err != nil || s != 16<<20 || s.String() != "16MiB" {
		t.Fatalf("SizeFrom(16MiB) = %v, %v", s, err)
	}
	if s, err := SizeFrom(4096); err != nil || s != 4096 {
		t.Fatalf("SizeFrom(4096) = %v, %v", s, err)
	}
	for _, bad := range []any{-1, 1.5, "9999999999999T", "lots"} {
		if _, err := SizeFrom(bad); err == nil {
			t.Errorf("SizeFrom(%v): want an error", bad)
		}
	}
	for in, want := range map[string]uint64{"100kbit": 100_000, "10mbit": 10_000_000, "1gbps": 8_000_000_000, "64000bit": 64_000} {
		r, err := ParseRate(in)
		if err != nil || r.BitsPerSecond() != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %d", in, r, err, want)
		}
	}
	for _, bad := range []string{"10", "fast", "0kbit", "2tbit", "-5mbit"} {
		if _, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q): want an error", bad)
		}
	}
	if r, _ := ParseRate("10mbit"); r.String() != "10mbit" {
		t.Errorf("Rate.String = %s", r)
	}
}

// One JSON form per type, and it reads back.
func TestJSONRoundTrip(t *testing.T) {
	type all struct {
		P Percent  `json:"p"`
		D Duration `json:"d"`
		S Size     `json:"s"`
		R Rate     `json:"r"`
	}
	in := all{P: 0.999, D: Duration(1500 * time.Millisecond), S: 16 << 20, R: 10_000_000}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"p":99.9,"d":"1.5s","s":16777216,"r":"10mbit"}`; string(b) != want {
		t.Fatalf("json = %s, want %s", b, want)
	}
	var out all
	if err := json.Unmarshal(b, &out); err != nil || out != in {
		t.Fatalf("round trip = %+v, %v", out, err)
	}
}

// YAML errors keep the position of the offending value.
func TestYAMLPositions(t *testing.T) {
	type doc struct {
		P Percent  `yaml:"p"`
		D Duration `yaml:"d"`
		S Size     `yaml:"s"`
		R Rate     `yaml:"r"`
	}
	for _, tc := range []struct {
		src, want string
	}{
		{"p: 150\n", "x.yaml:1:4: p: percentage 150 is out of range 0..100"},
		{"p: 1\nd: 5\n", "x.yaml:2:4: d: invalid duration \"5\": a bare number has no unit"},
		{"s: [1]\n", "x.yaml:1:4: s: want a size such as 1048576 or 16MiB, got a list"},
		{"r: fast\n", "x.yaml:1:4: r: invalid rate \"fast\""},
		{"d: 0s\n", "x.yaml:1:4: d: a duration of 0 is refused"},
		{"d: \"0\"\n", "x.yaml:1:4: d: a duration of 0 is refused"},
		{"d: 0h0m0.0s\n", "x.yaml:1:4: d: a duration of 0 is refused"},
		{"d: 0\n", "x.yaml:1:4: d: a duration of 0 is refused"},
		{"s: 99999999999999999999\n", "x.yaml:1:4: s: size \"99999999999999999999\" overflows"},
		{"s: 9999999T\n", "x.yaml:1:4: s: size \"9999999T\" overflows"},
	} {
		d, err := yamldoc.Parse("x.yaml", []byte(tc.src), "a document")
		if err != nil {
			t.Fatal(err)
		}
		var v doc
		err = d.Decode(&v)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want prefix %q", tc.src, err, tc.want)
		}
	}
	d, _ := yamldoc.Parse("x.yaml", []byte("p: 99.5%\nd: 1m\ns: 512K\nr: 100kbit\n"), "a document")
	var v doc
	if err := d.Decode(&v); err != nil || v.P.Fraction() != 0.995 || v.D.D() != time.Minute || v.S != 512<<10 || v.R != 100_000 {
		t.Fatalf("decode = %+v, %v", v, err)
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"500ms", "1h30m", "28d", "5", "-1s", "1.5.5s", "2562048h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v < 0", s, d)
		}
		// What Go prints reads back the same.
		if back, err := ParseDuration(d.String()); err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v, which reads back as %v, %v", s, d, back, err)
		}
	})
}
