package reports

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// trendT0 is the first run of the fixture trend.
var trendT0 = time.Date(2026, 9, 5, 2, 0, 0, 0, time.UTC)

func trendDay(d float64) time.Time { return trendT0.Add(time.Duration(d * 24 * float64(time.Hour))) }

// fittedTrend is a metric fitted by a line through (centerDay, center)
// with slope and its interval; the crossing of th (when given) follows
// from the line, as Trend computes it.
func fittedTrend(metric, unit string, values []float64, centerDay, center, slope, low, high, conf float64, th *float64) MetricTrend {
	m := MetricTrend{Metric: metric, Unit: unit, Method: "Theil-Sen", SlopePerDay: slope, SlopeLowPerDay: low, SlopeHighPerDay: high,
		Center: TrendPoint{At: trendDay(centerDay), Value: center}, Latest: center + slope*(49-centerDay), R2: 0.8,
		Direction: "worsening", Confidence: conf, Threshold: th}
	for i, v := range values {
		m.Points = append(m.Points, TrendPoint{At: trendDay(float64(7 * i)), Value: v})
	}
	if th != nil && slope > 0 && *th > m.Latest {
		days := func(s float64) float64 { return centerDay + (*th-center)/s }
		c := &Crossing{At: trendDay(days(slope)), Earliest: trendDay(days(high)), Confidence: conf}
		if low > 0 {
			l := trendDay(days(low))
			c.Latest = &l
		}
		m.Crossing = c
	}
	return m
}

func ptr(v float64) *float64 { return &v }

// trendFixture is a plan's trend over eight weekly runs: p95 latency
// heading to its 2 s objective within the chart (high priority), MTTR
// heading to 30 s far beyond it (scheduled), availability flat above its
// objective, outages without a threshold and TTFT skipped.
func trendFixture() *TrendReport {
	t := &TrendReport{Plan: "monthly-update", Stack: "containers", From: trendT0, To: trendDay(49), Now: trendDay(49), Level: 0.90}
	for i := range 8 {
		t.Runs = append(t.Runs, TrendRun{RunID: "run-" + strconv.Itoa(i+1), StartedAt: trendDay(float64(7 * i)), Dir: "runs/" + strconv.Itoa(i+1)})
	}
	lat := fittedTrend(MetricNameLatencyP95, "seconds", []float64{0.81, 0.89, 0.98, 1.07, 1.21, 1.27, 1.39, 1.47}, 24.5, 1.143, 0.014, 0.010, 0.018, 0.93, ptr(2))
	mttr := fittedTrend(MetricNameMTTR, "seconds", []float64{10.1, 10.0, 10.4, 10.3, 10.7, 10.6, 11.0, 11.2}, 24.5, 10.55, 0.04, 0.01, 0.07, 0.75, ptr(30))
	avail := fittedTrend(MetricNameAvailability, "ratio", []float64{0.9995, 0.9996, 0.9994, 0.9995, 0.9996, 0.9995, 0.9994, 0.9995}, 24.5, 0.9995, 0, -0.00001, 0.00001, 0.41, ptr(0.999))
	avail.Direction = "flat"
	out := fittedTrend(MetricNameOutages, "count", []float64{1, 1, 2, 1, 1, 2, 1, 1}, 24.5, 1, 0, -0.01, 0.02, 0.3, nil)
	out.Direction = "flat"
	t.Metrics = []MetricTrend{avail, lat, mttr, out,
		{Metric: MetricNameTTFTP95, Unit: "seconds", Skipped: "measured by 2 runs, fewer than 5 (TTFT needs a streamed request)"}}
	t.Suggestions = []Maintenance{
		{Metric: MetricNameLatencyP95, Priority: PriorityHigh, Confidence: 0.93, Before: lat.Crossing.Earliest, Window: "sat 02:00-06:00 UTC, the first of each month",
			Reason: "p95 latency rises 14 ms a day and reaches its 2 s objective around " + lat.Crossing.At.Format("2006-01-02") + "."},
		{Metric: MetricNameMTTR, Priority: PriorityScheduled, Confidence: 0.75, Before: mttr.Crossing.Earliest,
			Reason: "MTTR rises 40 ms a day toward 30 s."},
	}
	return t
}

// xmlElem is an element of a page parsed as XML, with its attributes and children.
type xmlElem struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Children []xmlElem  `xml:",any"`
	Text     string     `xml:",chardata"`
}

func (e xmlElem) attr(name string) string {
	for _, a := range e.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// walk calls f on e and every element below it.
func (e xmlElem) walk(f func(xmlElem)) {
	f(e)
	for _, c := range e.Children {
		c.walk(f)
	}
}

// parsePage parses the page strictly as XML: a tag left open or a stray
// '<' or '&' fails it.
func parsePage(t *testing.T, b []byte) xmlElem {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	var root xmlElem
	if err := d.Decode(&root); err != nil {
		t.Fatalf("trend.html is not well-formed: %v", err)
	}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if cd, ok := tok.(xml.CharData); err != nil || !ok || len(bytes.TrimSpace(cd)) > 0 {
			t.Fatalf("trend.html has more after </html>: %v %v", tok, err)
		}
	}
	return root
}

func svgs(root xmlElem) []xmlElem {
	var out []xmlElem
	root.walk(func(e xmlElem) {
		if e.XMLName.Local == "svg" {
			out = append(out, e)
		}
	})
	return out
}

func byClass(e xmlElem, class string) []xmlElem {
	var out []xmlElem
	e.walk(func(c xmlElem) {
		if c.attr("class") == class {
			out = append(out, c)
		}
	})
	return out
}

func attrNum(t *testing.T, e xmlElem, name string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(e.attr(name), 64)
	if err != nil {
		t.Fatalf("<%s %s=%q>: %v", e.XMLName.Local, name, e.attr(name), err)
	}
	return v
}

func TestTrendHTMLOneChartPerFittedMetric(t *testing.T) {
	tr := trendFixture()
	b, err := tr.HTML(TrendLink{Name: "maintenance plan stub", Href: "maintenance.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	charts := svgs(parsePage(t, b))
	if len(charts) != 4 {
		t.Fatalf("%d charts, want 4 (availability, latency_p95, mttr, outages; ttft_p95 skipped)", len(charts))
	}
	for i, c := range charts {
		m := tr.Metrics[i]
		if len(c.Children) < 2 || c.Children[0].XMLName.Local != "title" || c.Children[1].XMLName.Local != "desc" ||
			!strings.HasPrefix(c.Children[0].Text, m.Metric+":") || !strings.Contains(c.Children[1].Text, "Slope") {
			t.Errorf("chart %d (%s) lacks its accessible title and description", i, m.Metric)
		}
		if want := c.Children[0].attr("id") + " " + c.Children[1].attr("id"); c.attr("aria-labelledby") != want {
			t.Errorf("chart %d: aria-labelledby %q, want %q", i, c.attr("aria-labelledby"), want)
		}
		if got := len(byClass(c, "run")); got != len(m.Points) {
			t.Errorf("%s: %d run dots, want %d", m.Metric, got, len(m.Points))
		}
		if got, want := len(byClass(c, "threshold")), map[bool]int{true: 1, false: 0}[m.Threshold != nil]; got != want {
			t.Errorf("%s: %d threshold lines, want %d", m.Metric, got, want)
		}
		if len(byClass(c, "band")) != 1 || len(byClass(c, "fit")) != 1 {
			t.Errorf("%s: want one fit line and one band", m.Metric)
		}
	}
	for _, want := range []string{
		"ttft_p95: measured by 2 runs, fewer than 5 (TTFT needs a streamed request)",
		"threshold 2000 ms", "threshold 99.90 %",
		`<a href="maintenance.yaml">maintenance plan stub</a>`,
		"scheduled when the trend&#39;s confidence is above 70 %, with high priority above 85 %",
		"8 runs from 2026-09-05 02:00 UTC to 2026-10-24 02:00 UTC",
	} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("trend.html lacks %q", want)
		}
	}
}

// TestTrendChartCrossingWhereFitMeetsThreshold checks the chart against
// its own geometry: the crossing marker stands where the drawn fit line
// meets the drawn threshold line, the runs rise on screen as their values
// do, and a crossing beyond three spans of history is said in words.
func TestTrendChartCrossingWhereFitMeetsThreshold(t *testing.T) {
	tr := trendFixture()
	b, err := tr.HTML()
	if err != nil {
		t.Fatal(err)
	}
	charts := svgs(parsePage(t, b))
	lat, mttr := charts[1], charts[2]
	fit, th, cross := byClass(lat, "fit"), byClass(lat, "threshold"), byClass(lat, "crossing")
	if len(fit) != 1 || len(th) != 1 || len(cross) != 1 {
		t.Fatalf("latency chart: %d fit, %d threshold, %d crossing lines", len(fit), len(th), len(cross))
	}
	x1, y1, x2, y2 := attrNum(t, fit[0], "x1"), attrNum(t, fit[0], "y1"), attrNum(t, fit[0], "x2"), attrNum(t, fit[0], "y2")
	yth := attrNum(t, th[0], "y1")
	xMeet := x1 + (yth-y1)*(x2-x1)/(y2-y1)
	if got := attrNum(t, cross[0], "x1"); math.Abs(got-xMeet) > 1 {
		t.Errorf("crossing marker at x=%.1f, but the fit meets the threshold at x=%.1f", got, xMeet)
	}
	if len(byClass(lat, "crossing-span")) != 1 {
		t.Error("latency chart: the crossing's earliest..latest span is not shaded")
	}
	dots := byClass(lat, "run")
	if first, last := attrNum(t, dots[0], "cy"), attrNum(t, dots[len(dots)-1], "cy"); !(last < first) {
		t.Errorf("rising latency drawn falling: first run y=%v, last y=%v", first, last)
	}
	if len(byClass(mttr, "crossing")) != 0 || len(byClass(mttr, "crossing-beyond")) != 1 {
		t.Error("MTTR's crossing, 475 days out, is drawn instead of said to be beyond the chart")
	}
}

func TestTrendHTMLEscapesAndSaysWhyNoMaintenance(t *testing.T) {
	tr := trendFixture()
	tr.Plan = `<script>alert("x")</script>`
	tr.Metrics[1].Crossing.Confidence = 0.62
	tr.Suggestions = nil
	b, err := tr.HTML()
	if err != nil {
		t.Fatal(err)
	}
	parsePage(t, b)
	if bytes.Contains(b, []byte("<script>")) {
		t.Error("the plan name is not escaped")
	}
	want := "None suggested: no metric is heading to a threshold with a confidence above 70 %. Heading there with less: latency_p95 (crossing 2026-11-29, confidence 62 %)"
	if !bytes.Contains(b, []byte(want)) {
		t.Errorf("trend.html does not say why no maintenance is suggested; want %q", want)
	}
	for i := range tr.Metrics {
		tr.Metrics[i].Crossing = nil
	}
	if got := NoMaintenanceWords(tr); got != "None suggested: no metric is heading to a threshold." {
		t.Errorf("without crossings: %q", got)
	}
}

func TestTrendPercentWords(t *testing.T) {
	for v, want := range map[float64]string{0.93: "93 %", 0.996: "99.6 %", 1: "100 %", 0: "0 %", 0.004: "0.4 %", 0.706: "71 %", 0.99996: "over 99.9 %", 0.0002: "under 0.1 %"} {
		if got := trPct(v); got != want {
			t.Errorf("trPct(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestTrendValueWords(t *testing.T) {
	for _, tc := range []struct {
		v          float64
		unit, want string
		signed     bool
	}{
		{1.5, "seconds", "1500 ms", false},
		{30, "seconds", "30.00 s", false},
		{0.01234, "seconds", "12.34 ms", false},
		{0.9995, "ratio", "99.95 %", false},
		{3, "count", "3.000", false},
		{0.014, "seconds", "+14.0 ms", true},
		{-0.00002, "ratio", "-0.00200 pp", true},
	} {
		got := trValue(tc.v, tc.unit)
		if tc.signed {
			got = trSigned(tc.v, tc.unit)
		}
		if got != tc.want {
			t.Errorf("%v %s: %q, want %q", tc.v, tc.unit, got, tc.want)
		}
	}
}

// parseTrendProm parses drill.prom with Prometheus' own text parser.
func parseTrendProm(t *testing.T, b []byte) map[string]map[string]float64 {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("drill.prom does not parse: %v\n%s", err, b)
	}
	out := map[string]map[string]float64{}
	for name, f := range fams {
		out[name] = map[string]float64{}
		for _, m := range f.GetMetric() {
			var key []string
			for _, l := range m.GetLabel() {
				if l.GetName() != "plan" && l.GetName() != "stack" {
					key = append(key, l.GetName()+"="+l.GetValue())
				}
			}
			out[name][strings.Join(key, ",")] = m.GetGauge().GetValue()
		}
	}
	return out
}

func TestTrendPromValues(t *testing.T) {
	tr := trendFixture()
	tr.Metrics = append(tr.Metrics, MetricTrend{Metric: `evil"{}` + "\n", Unit: "seconds", Method: "Theil-Sen", SlopePerDay: 1})
	b, err := tr.Prom()
	if err != nil {
		t.Fatal(err)
	}
	got := parseTrendProm(t, b)
	lat := tr.Metrics[1].Crossing
	want := map[string]map[string]float64{
		MetricTrendRuns:             {"": 8},
		MetricTrendLastRunTimestamp: {"": float64(trendDay(49).Unix())},
		MetricTrendSlope:            {"metric=availability": 0, "metric=latency_p95": 0.014, "metric=mttr": 0.04, "metric=outages": 0},
		MetricTrendConfidence:       {"metric=availability": 0.41, "metric=latency_p95": 0.93, "metric=mttr": 0.75, "metric=outages": 0.3},
		MetricTrendCrossing: {"metric=latency_p95": float64(lat.At.UnixMilli()) / 1e3,
			"metric=mttr": float64(tr.Metrics[2].Crossing.At.UnixMilli()) / 1e3},
		MetricTrendCrossingEarliest: {"metric=latency_p95": float64(lat.Earliest.UnixMilli()) / 1e3,
			"metric=mttr": float64(tr.Metrics[2].Crossing.Earliest.UnixMilli()) / 1e3},
		MetricTrendCrossingLatest: {"metric=latency_p95": float64(lat.Latest.UnixMilli()) / 1e3,
			"metric=mttr": float64(tr.Metrics[2].Crossing.Latest.UnixMilli()) / 1e3},
		MetricTrendCrossed:     {"metric=availability": 0, "metric=latency_p95": 0, "metric=mttr": 0},
		MetricTrendMaintenance: {"metric=latency_p95,priority=high": 1, "metric=mttr,priority=scheduled": 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("drill.prom (-want +got):\n%s", diff)
	}
	// The fixture's latency fit (1.143 s on day 24.5, +14 ms/day) reaches
	// 2 s on day 24.5 + 0.857/0.014 = 85.714 after 2026-09-05 02:00 UTC:
	// 2026-11-29 19:08:34 UTC (Python's datetime + timedelta agrees).
	if at := time.Unix(int64(got[MetricTrendCrossing]["metric=latency_p95"]), 0).UTC(); at != time.Date(2026, 11, 29, 19, 8, 34, 0, time.UTC) {
		t.Errorf("latency crossing exported as %s, want 2026-11-29 19:08:34 UTC", at)
	}
	if !bytes.Contains(b, []byte(`stack="containers"`)) || !bytes.Contains(b, []byte(`plan="monthly-update"`)) {
		t.Errorf("plan and stack labels missing:\n%s", b)
	}
}

func TestTrendPromPassesPromtoolLint(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (apt-get install prometheus): naming lint not run")
	}
	b, err := trendFixture().Prom()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(b)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestTrendGolden(t *testing.T) {
	tr := trendFixture()
	html, err := tr.HTML(TrendLink{Name: "maintenance plan stub", Href: "maintenance.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	prom, err := tr.Prom()
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]byte{"trend.html": html, "drill.prom": prom} {
		t.Run(name, func(t *testing.T) {
			golden := filepath.Join("testdata", "trend", name)
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./reports -run TestTrendGolden -update)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s differs from golden (-want +got):\n%s", name, diff)
			}
		})
	}
}
