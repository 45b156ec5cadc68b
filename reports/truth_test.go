package reports

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// statementRE reads an SLO statement back: name, actual, relation, target.
var statementRE = regexp.MustCompile(`^(\S+) (-?[0-9.]+)(%| s| ms| req/s| rows)? (<=|>=|<|>) target (-?[0-9.]+)(%| s| ms| req/s| rows)?$`)

// parseAmount turns a rendered amount back into the unit's base value
// (fractions for %, seconds for ms).
func parseAmount(t *testing.T, num, unit string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		t.Fatalf("amount %q: %v", num, err)
	}
	switch unit {
	case "%":
		return v / 100
	case " ms":
		return v / 1000
	}
	return v
}

// holds evaluates a relation between two printed numbers.
func holds(a float64, op string, b float64) bool {
	switch op {
	case "<":
		return a < b
	case ">":
		return a > b
	case "<=":
		return a <= b
	case ">=":
		return a >= b
	}
	return false
}

// TestSLOStatementIsTrueAsWritten reads each statement back, number by
// number as printed, and checks that the printed relation holds between
// the printed numbers, for every objective kind in both directions, met
// and breached, including values that differ only past the usual digits.
func TestSLOStatementIsTrueAsWritten(t *testing.T) {
	for _, c := range []struct {
		s    SLOResult
		want string
	}{
		{SLOResult{Name: "availability", Kind: "availability", Target: 0.99, Actual: 0.9712, Op: ">=", Unit: "ratio"}, "availability 97.120% < target 99.000%"},
		{SLOResult{Name: "availability", Kind: "availability", Target: 0.995, Actual: 0.9991, Op: ">=", Unit: "ratio", Compliant: true}, "availability 99.910% >= target 99.500%"},
		{SLOResult{Name: "availability", Kind: "availability", Target: 0.995, Actual: 0.9949996, Op: ">=", Unit: "ratio"}, "availability 99.49996% < target 99.50000%"},
		{SLOResult{Name: "error_rate", Kind: "error_rate", Target: 0.05, Actual: 0.0712, Op: "<=", Unit: "ratio"}, "error_rate 7.120% > target 5.000%"},
		{SLOResult{Name: "error_rate", Kind: "error_rate", Target: 0.05, Actual: 0, Op: "<=", Unit: "ratio", Compliant: true}, "error_rate 0.000% <= target 5.000%"},
		{SLOResult{Name: "latency_p95", Kind: "latency", Target: 2, Actual: 2.4, Op: "<=", Unit: "seconds"}, "latency_p95 2.400 s > target 2.000 s"},
		{SLOResult{Name: "latency_p95", Kind: "latency", Target: 2, Actual: 2.0002, Op: "<=", Unit: "seconds"}, "latency_p95 2.0002 s > target 2.0000 s"},
		{SLOResult{Name: "latency_p95", Kind: "latency", Target: 2, Actual: 0.18, Op: "<=", Unit: "seconds", Compliant: true}, "latency_p95 180.0 ms <= target 2.000 s"},
		{SLOResult{Name: "ttft_p95", Kind: "ttft", Target: 0.5, Actual: 0.7, Op: "<=", Unit: "seconds"}, "ttft_p95 700.0 ms > target 500.0 ms"},
		{SLOResult{Name: "recovery_time", Kind: "recovery_time", Target: 15, Actual: 16.5, Op: "<=", Unit: "seconds"}, "recovery_time 16.500 s > target 15.000 s"},
		{SLOResult{Name: "rto", Kind: "rto", Target: 60, Actual: 72.25, Op: "<=", Unit: "seconds"}, "rto 72.250 s > target 60.000 s"},
		{SLOResult{Name: "rpo", Kind: "rpo", Target: 300, Actual: 12, Op: "<=", Unit: "seconds", Compliant: true}, "rpo 12.000 s <= target 300.000 s"},
		{SLOResult{Name: "throughput", Kind: "throughput", Target: 10, Actual: 8.5, Op: ">=", Unit: "req/s"}, "throughput 8.50 req/s < target 10.00 req/s"},
		{SLOResult{Name: "goodput", Kind: "goodput", Target: 0.95, Actual: 0.97, Op: ">=", Unit: "ratio", Compliant: true}, "goodput 97.000% >= target 95.000%"},
		{SLOResult{Name: "goodput_rate", Kind: "goodput_rate", Target: 5, Actual: 4.999, Op: ">=", Unit: "req/s"}, "goodput_rate 4.999 req/s < target 5.000 req/s"},
	} {
		t.Run(c.want, func(t *testing.T) {
			got := SLOStatement(c.s)
			if got != c.want {
				t.Errorf("SLOStatement = %q, want %q", got, c.want)
			}
			m := statementRE.FindStringSubmatch(got)
			if m == nil {
				t.Fatalf("%q does not read as NAME ACTUAL OP target TARGET", got)
			}
			a, b := parseAmount(t, m[2], m[3]), parseAmount(t, m[5], m[6])
			if !holds(a, m[4], b) {
				t.Errorf("%q is false as written: %v %s %v does not hold", got, a, m[4], b)
			}
			if strict := len(m[4]) == 1; strict == c.s.Compliant {
				t.Errorf("%q: a strict relation must mean a breach and only a breach, compliant=%v", got, c.s.Compliant)
			}
		})
	}
}

func TestSLOStatementWithoutMeasurement(t *testing.T) {
	for _, c := range []struct {
		s    SLOResult
		want string
	}{
		{SLOResult{Name: "ttft_p95", Kind: "ttft", Target: 0.5, Op: "<=", Unit: "seconds", NotMeasured: true, Detail: "no TTFT samples"}, "ttft_p95 not measured: no TTFT samples"},
		{SLOResult{Name: "rto", Kind: "rto", Target: 60, Op: "<=", Unit: "seconds", NotMeasured: true}, "rto not measured"},
		{SLOResult{Name: "recovery_time", Kind: "recovery_time", Target: 20, Op: "<=", Unit: "seconds", Compliant: true}, "recovery_time: no outages (target <= 20.000 s)"},
		{SLOResult{Name: "recovery_time", Target: 20, Op: "<=", Unit: "seconds", Compliant: true}, "recovery_time: no outages (target <= 20.000 s)"}, // schema 1: no kind
	} {
		if got := SLOStatement(c.s); got != c.want {
			t.Errorf("SLOStatement = %q, want %q", got, c.want)
		}
	}
}

// twoBreaches is a plan run that breached availability and latency_p95
// and met the error rate, with one deviated step.
func twoBreaches() *Report {
	r := sampleReport("")
	r.SLO = []SLOResult{
		{Name: "availability", Kind: "availability", Target: 0.995, Actual: 0.9712, Op: ">=", Unit: "ratio"},
		{Name: "latency_p95", Kind: "latency", Target: 2, Actual: 3.1, Op: "<=", Unit: "seconds"},
		{Name: "error_rate", Kind: "error_rate", Target: 0.05, Actual: 0.0288, Op: "<=", Unit: "ratio", Compliant: true},
	}
	r.VerdictReason = ShortfallReason(r)
	return r
}

// TestTwoBreachesJUnitAndReason: each breached SLO is a JUnit failure
// whose message is the comparison that failed, true as written; the met one
// is no failure; the verdict reason names both breaches and the deviated step.
func TestTwoBreachesJUnitAndReason(t *testing.T) {
	r := twoBreaches()
	b, err := JUnit(r)
	if err != nil {
		t.Fatal(err)
	}
	var doc JUnitSuites
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range doc.Suites[0].Cases {
		if strings.HasPrefix(c.Name, "slo: ") && c.Failure != nil {
			got[c.Name] = c.Failure.Message
		}
	}
	want := map[string]string{
		"slo: availability": "availability 97.120% < target 99.500%",
		"slo: latency_p95":  "latency_p95 3.100 s > target 2.000 s",
	}
	if len(got) != len(want) {
		t.Errorf("SLO failures %v, want exactly %v", got, want)
	}
	for name, msg := range want {
		if got[name] != msg {
			t.Errorf("%s failure message %q, want %q", name, got[name], msg)
		}
	}
	for _, part := range []string{"SLO availability 97.120% < target 99.500%", "SLO latency_p95 3.100 s > target 2.000 s",
		`step "200ms latency on model-1 <b>": 3 of 200 requests failed`} {
		if !strings.Contains(r.VerdictReason, part) {
			t.Errorf("verdict reason %q lacks %q", r.VerdictReason, part)
		}
	}
	if strings.Contains(r.VerdictReason, "error_rate") {
		t.Errorf("verdict reason names the met error_rate: %q", r.VerdictReason)
	}
}

// noOutageReport is a run without outages: MTTR and MTBF do not exist.
func noOutageReport() *Report {
	r := sampleReport("")
	r.Outages, r.MTTRSeconds, r.MTBFSeconds = []Outage{}, nil, nil
	r.SLO = append(r.SLO[:2:2], SLOResult{Name: "recovery_time", Kind: "recovery_time", Target: 15, Op: "<=", Unit: "seconds", Compliant: true})
	return r
}

// TestNoOutagesIsNotZero: without outages every output says so instead of
// an MTTR or MTBF of 0 s, report.json holds null, drill.prom leaves the
// gauges out; a schema-1 report's 0 reads the same.
func TestNoOutagesIsNotZero(t *testing.T) {
	zero := 0.0
	legacy := noOutageReport()
	legacy.SchemaVersion, legacy.MTTRSeconds, legacy.MTBFSeconds = 1, &zero, &zero
	for name, r := range map[string]*Report{"current": noOutageReport(), "schema 1": legacy} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := Write(dir, r); err != nil {
				t.Fatal(err)
			}
			read := func(f string) string {
				b, err := os.ReadFile(filepath.Join(dir, f))
				if err != nil {
					t.Fatal(err)
				}
				return string(b)
			}
			md, page, junit, prom := read(FileMarkdown), read(FileHTML), read(FileJUnit), read(FileProm)
			for _, want := range []string{"| MTTR | no outages |", "| MTBF | no outages |", "| recovery_time | &lt;= 15.000 s | no outages |"} {
				if !strings.Contains(md, want) {
					t.Errorf("report.md lacks %q", want)
				}
			}
			if !strings.Contains(page, "<b style=\"font-size:15px\">no outages</b>") {
				t.Error("report.html does not say no outages for MTTR")
			}
			for _, want := range []string{`name="mttr_seconds" value="no outages"`, `name="mtbf_seconds" value="no outages"`, "recovery_time: no outages"} {
				if !strings.Contains(junit, want) {
					t.Errorf("junit.xml lacks %q", want)
				}
			}
			if strings.Contains(prom, MetricMTTR) || strings.Contains(prom, MetricMTBF) {
				t.Error("drill.prom states an MTTR or MTBF without outages")
			}
			if s := Summary(r); !strings.Contains(s, "no outages") || strings.Contains(s, "MTTR 0") {
				t.Errorf("summary line: %q", s)
			}
		})
	}
	b, err := MarshalJSON(noOutageReport())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if string(m["mttr_seconds"]) != "null" || string(m["mtbf_seconds"]) != "null" || !bytes.Equal(m["outages"], []byte("[]")) {
		t.Errorf("report.json: mttr_seconds %s, mtbf_seconds %s, outages %s; want null, null, []", m["mttr_seconds"], m["mtbf_seconds"], m["outages"])
	}
}

// TestMTTRWithOutagesStaysANumber guards the other side: with outages the
// numbers are there.
func TestMTTRWithOutagesStaysANumber(t *testing.T) {
	r := sampleReport("")
	if v, ok := r.MTTR(); !ok || v != 3.5 {
		t.Errorf("MTTR() = %v, %v", v, ok)
	}
	if s := Summary(r); !strings.Contains(s, "2 outages, MTTR 3.500 s, MTBF 20.000 s") {
		t.Errorf("summary line: %q", s)
	}
}
