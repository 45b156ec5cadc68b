package reports

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aiuptime/aiuptime/stats"
)

// Directions of a MetricTrend.
const (
	TrendWorsening = "worsening"
	TrendImproving = "improving"
	TrendFlat      = "flat"
)

// TrendMethod is MetricTrend.Method of TrendOf's fits.
const TrendMethod = "Theil-Sen"

// trendHorizonDays is how far from the first run a crossing is still
// predicted (a century): a line that reaches its threshold later is "not
// heading there" for anyone planning maintenance, and time.Time arithmetic
// stays within time.Duration's 292 years.
const trendHorizonDays = 36525

// TrendOptions tune TrendOf. Zero values take the defaults: MinRuns
// DefaultTrendMinRuns, MinSpan DefaultTrendMinSpan, Level
// DefaultTrendLevel, Now the newest run's start.
type TrendOptions struct {
	// MinRuns is the fewest runs (of the group, and of a metric) fitted;
	// at least 3, which Mann-Kendall needs.
	MinRuns int
	// MinSpan is the shortest span of start times fitted: to accept any,
	// pass a tiny one (time.Nanosecond).
	MinSpan time.Duration
	// Level is the slope interval's level, in (0, 1).
	Level float64
	// Thresholds are the limits checked, by metric name (the MetricName
	// constants): "bad" is below for availability, above for the others.
	Thresholds map[string]float64
	// Now is when suggestions count from (never before it).
	Now time.Time
	// Dirs fills TrendRun.Dir: where each run's report.json was read.
	Dirs map[*Report]string
}

// TrendGroup is the runs of one plan on one stack, oldest first.
type TrendGroup struct {
	Plan, Stack string
	Runs        []*Report
}

// Span is the time from the first run's start to the last's.
func (g TrendGroup) Span() time.Duration {
	if len(g.Runs) == 0 {
		return 0
	}
	return g.Runs[len(g.Runs)-1].StartedAt.Sub(g.Runs[0].StartedAt)
}

// String names the group with its run count and span: `plan "p" on
// stack "s": 4 runs, 2026-01-01 to 2026-01-22 (21.0 days)`.
func (g TrendGroup) String() string {
	name := fmt.Sprintf("plan %q", g.Plan)
	if g.Stack != "" {
		name += fmt.Sprintf(" on stack %q", g.Stack)
	}
	if len(g.Runs) == 0 {
		return name + ": no runs"
	}
	return fmt.Sprintf("%s: %d runs, %s to %s (%s)", name, len(g.Runs),
		tofDate(g.Runs[0].StartedAt), tofDate(g.Runs[len(g.Runs)-1].StartedAt), FormatSpan(g.Span()))
}

// GroupRuns splits runs by plan and stack (a report without a stack is
// stack ""), each group oldest first, the groups ordered by plan, then
// stack.
func GroupRuns(runs []*Report) []TrendGroup {
	var gs []TrendGroup
	for _, r := range runs {
		i := slices.IndexFunc(gs, func(g TrendGroup) bool { return g.Plan == r.Plan && g.Stack == r.Stack })
		if i < 0 {
			gs = append(gs, TrendGroup{Plan: r.Plan, Stack: r.Stack})
			i = len(gs) - 1
		}
		gs[i].Runs = append(gs[i].Runs, r)
	}
	for _, g := range gs {
		slices.SortStableFunc(g.Runs, func(a, b *Report) int { return a.StartedAt.Compare(b.StartedAt) })
	}
	slices.SortFunc(gs, func(a, b TrendGroup) int { return cmp.Or(cmp.Compare(a.Plan, b.Plan), cmp.Compare(a.Stack, b.Stack)) })
	return gs
}

// FormatSpan says a span for people: "2h0m" under two days, "7.0 days"
// from there.
func FormatSpan(d time.Duration) string {
	if d < 48*time.Hour {
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	return fmt.Sprintf("%.1f days", d.Hours()/24)
}

func (o TrendOptions) withDefaults() (TrendOptions, error) {
	o.MinRuns = cmp.Or(o.MinRuns, DefaultTrendMinRuns)
	o.MinSpan = cmp.Or(o.MinSpan, DefaultTrendMinSpan)
	o.Level = cmp.Or(o.Level, DefaultTrendLevel)
	switch {
	case o.MinRuns < 3:
		return o, fmt.Errorf("minimum of %d runs: a trend needs at least 3", o.MinRuns)
	case o.MinSpan < 0:
		return o, fmt.Errorf("minimum span %s is negative", o.MinSpan)
	case !(o.Level > 0 && o.Level < 1):
		return o, fmt.Errorf("level %v: %w", o.Level, stats.ErrBadLevel)
	}
	return o, nil
}

// TrendOf fits the trend of runs of one plan on one stack. It refuses,
// with an error wrapping ErrMixedPlans, ErrTooFewRuns or ErrShortSpan and
// naming what it found, runs of several plans or stacks (see GroupRuns),
// fewer than MinRuns runs, and runs whose start times span less than
// MinSpan.
//
// Each metric is fitted over the runs that measured it, against the start
// time in days, with a Theil-Sen line and Sen's interval at Level; one
// measured by fewer than MinRuns runs, or over less than MinSpan, is
// Skipped. Its Confidence is Φ(±Z) of a Mann-Kendall test, Z signed
// toward worse (up for latencies, down for availability): the
// probability that it is worsening, 0.5 for no tendency at all. Its
// Direction is worsening when that probability is at least Level,
// improving when at most 1-Level, else flat (one-sided, as the
// confidence is).
//
// A metric with a threshold gets a Crossing when its line heads there
// (see tofCrossing) or is past it at the newest run; every crossing with
// a Confidence above MaintenanceScheduled becomes a suggestion (above
// MaintenanceHighPriority, high priority), even when the Direction is
// flat: 70 % is below any usual significance level, by the rule.
func TrendOf(runs []*Report, o TrendOptions) (*TrendReport, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("trend: %w", err)
	}
	gs := GroupRuns(runs)
	switch {
	case len(gs) == 0:
		return nil, fmt.Errorf("%w: no runs given, the minimum is %d", ErrTooFewRuns, o.MinRuns)
	case len(gs) > 1:
		names := make([]string, len(gs))
		for i, g := range gs {
			names[i] = g.String()
		}
		return nil, fmt.Errorf("%w: %d groups (%s); fit the runs of one plan on one stack at a time", ErrMixedPlans, len(gs), strings.Join(names, "; "))
	}
	g := gs[0]
	if len(g.Runs) < o.MinRuns {
		return nil, fmt.Errorf("%w: %s, fewer than the minimum of %d", ErrTooFewRuns, g, o.MinRuns)
	}
	if g.Span() < o.MinSpan {
		return nil, fmt.Errorf("%w: %s, shorter than the minimum of %s", ErrShortSpan, g, FormatSpan(o.MinSpan))
	}
	first, newest := g.Runs[0], g.Runs[len(g.Runs)-1]
	t := &TrendReport{Plan: g.Plan, Stack: g.Stack, From: first.StartedAt, To: newest.StartedAt, Level: o.Level, Now: o.Now}
	if t.Now.IsZero() {
		t.Now = t.To
	}
	for _, r := range g.Runs {
		t.Runs = append(t.Runs, TrendRun{RunID: r.RunID, StartedAt: r.StartedAt, Dir: o.Dirs[r]})
	}
	for _, d := range metricDefs {
		t.Metrics = append(t.Metrics, tofMetric(d, g.Runs, o))
	}
	window := ""
	if newest.Window != nil {
		window = newest.Window.Window
	}
	t.Suggestions = tofSuggestions(t, window)
	return t, nil
}

// tofAxis maps start times to days since the first run, and back.
type tofAxis struct{ t0 time.Time }

func (a tofAxis) days(t time.Time) float64 { return t.Sub(a.t0).Hours() / 24 }

func (a tofAxis) at(days float64) time.Time {
	return a.t0.Add(time.Duration(math.Round(days * 24 * float64(time.Hour)))).UTC()
}

// tofMetric fits one metric over the runs (oldest first) that measured it.
func tofMetric(d metricDef, runs []*Report, o TrendOptions) MetricTrend {
	m := MetricTrend{Metric: d.name, Unit: d.unit}
	ax := tofAxis{runs[0].StartedAt}
	var xs, ys []float64
	for _, r := range runs {
		if v, ok := d.get(r); ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
			m.Points = append(m.Points, TrendPoint{At: r.StartedAt, Value: v})
			xs, ys = append(xs, ax.days(r.StartedAt)), append(ys, v)
		}
	}
	if n := len(m.Points); n < o.MinRuns {
		why := ""
		if d.missing != "" {
			why = " (the others: " + d.missing + ")"
		}
		m.Skipped = fmt.Sprintf("measured by %d of %d runs%s, fewer than the minimum of %d", n, len(runs), why, o.MinRuns)
		return m
	}
	if span := m.Points[len(m.Points)-1].At.Sub(m.Points[0].At); span < o.MinSpan {
		m.Skipped = fmt.Sprintf("its %d runs span %s, shorter than the minimum of %s", len(m.Points), FormatSpan(span), FormatSpan(o.MinSpan))
		return m
	}
	line, err := stats.TheilSen(xs, ys, o.Level)
	if err != nil {
		m.Skipped = err.Error()
		return m
	}
	mk, err := stats.MannKendall(xs, ys)
	if err != nil {
		m.Skipped = err.Error()
		return m
	}
	m.Method = TrendMethod
	m.SlopePerDay, m.SlopeLowPerDay, m.SlopeHighPerDay = line.Slope, line.SlopeLow, line.SlopeHigh
	m.Center = TrendPoint{At: ax.at(line.CenterX), Value: line.CenterY}
	m.Latest = line.At(ax.days(runs[len(runs)-1].StartedAt))
	m.R2 = line.R2
	worse := tofWorse(d)
	m.Confidence = stats.NormalCDF(worse * mk.Z)
	// One-sided at the level, as the confidence is: a metric 94 % sure to
	// be worsening is worsening at 90 %, not flat.
	switch {
	case m.Confidence >= o.Level:
		m.Direction = TrendWorsening
	case m.Confidence <= 1-o.Level:
		m.Direction = TrendImproving
	default:
		m.Direction = TrendFlat
	}
	if th, ok := o.Thresholds[d.name]; ok && !math.IsNaN(th) && !math.IsInf(th, 0) {
		m.Threshold = &th
		m.Crossing = tofCrossing(&m, th, worse, ax, ax.days(runs[len(runs)-1].StartedAt))
	}
	return m
}

// tofWorse is +1 when a higher value is worse, -1 when lower is.
func tofWorse(d metricDef) float64 {
	if d.higherIsBetter {
		return -1
	}
	return 1
}

// tofCrossing is when m's line reaches th. The line and the two bounding
// lines of its slope interval pass through m.Center; a line of slope s
// heading toward worse (s·worse > 0) reaches th at Center + (th -
// Center.Value)/s days. At is the fitted line's, Earliest and Latest
// the earliest and latest of the three; Latest is nil when a bound of
// the interval does not head toward worse (the data allow no crossing at
// all) or crosses beyond a century. Crossed is set when the fitted value
// at the newest run (newestDays) is past th; a metric past th whose line
// does not worsen has At, Earliest and Latest at the newest run. Nil
// when the line does not head to th (or only beyond a century) and is
// not past it.
func tofCrossing(m *MetricTrend, th, worse float64, ax tofAxis, newestDays float64) *Crossing {
	cx, cy := ax.days(m.Center.At), m.Center.Value
	reach := func(s float64) (float64, bool) {
		if s*worse <= 0 {
			return 0, false
		}
		x := cx + (th-cy)/s
		return x, math.Abs(x) <= trendHorizonDays
	}
	c := &Crossing{Confidence: m.Confidence, Crossed: worse*(m.Latest-th) > 0}
	at, ok := reach(m.SlopePerDay)
	if !ok {
		if !c.Crossed {
			return nil
		}
		c.At = ax.at(newestDays)
		c.Earliest, c.Latest = c.At, &c.At
		return c
	}
	c.At = ax.at(at)
	lo, okLo := reach(m.SlopeLowPerDay)
	hi, okHi := reach(m.SlopeHighPerDay)
	earliest, latest := at, at
	for _, b := range []struct {
		x  float64
		ok bool
	}{{lo, okLo}, {hi, okHi}} {
		if b.ok {
			earliest, latest = min(earliest, b.x), max(latest, b.x)
		}
	}
	c.Earliest = ax.at(earliest)
	if okLo && okHi {
		l := ax.at(latest)
		c.Latest = &l
	}
	return c
}

// tofSuggestions are the maintenance for t's crossings sure enough, most
// urgent first: the earliest Before, then high priority, then the
// surest.
func tofSuggestions(t *TrendReport, window string) []Maintenance {
	var out []Maintenance
	for i := range t.Metrics {
		m := &t.Metrics[i]
		if m.Crossing == nil || m.Confidence <= MaintenanceScheduled {
			continue
		}
		s := Maintenance{Metric: m.Metric, Priority: PriorityScheduled, Confidence: m.Confidence,
			Before: m.Crossing.Earliest, Window: window, Reason: tofReason(m, t.Level)}
		if m.Confidence > MaintenanceHighPriority {
			s.Priority = PriorityHigh
		}
		if m.Crossing.Crossed || s.Before.Before(t.Now) {
			s.Before = t.Now
		}
		out = append(out, s)
	}
	slices.SortStableFunc(out, func(a, b Maintenance) int {
		return cmp.Or(a.Before.Compare(b.Before), cmp.Compare(tofRank(a.Priority), tofRank(b.Priority)),
			cmp.Compare(b.Confidence, a.Confidence), cmp.Compare(a.Metric, b.Metric))
	})
	return out
}

func tofRank(priority string) int {
	if priority == PriorityHigh {
		return 0
	}
	return 1
}

// tofReason is a suggestion's reason in one sentence: "latency_p95 rises
// 12.0 ms/day (90% interval 8.1 to 15.3); it reaches the 2.000 s
// threshold around 2027-01-14 (between 2027-01-05 and 2027-01-29);
// confidence 97%".
func tofReason(m *MetricTrend, level float64) string {
	verb := "rises"
	if m.SlopePerDay < 0 {
		verb = "falls"
	}
	f, unit, prec := tofRateScale(m)
	rate := func(v float64) string { return tofNum(v, f, prec, false) }
	s := fmt.Sprintf("%s %s %s%s/day (%.0f%% interval %s to %s); ", m.Metric, verb, rate(math.Abs(m.SlopePerDay)), tofSpaced(unit),
		level*100, rate(m.SlopeLowPerDay), rate(m.SlopeHighPerDay))
	c, th := m.Crossing, fmtDelta(*m.Threshold, m.Unit)
	switch {
	case c.Crossed:
		s += fmt.Sprintf("its fit is already past the %s threshold (%s at the newest run)", th, fmtDelta(m.Latest, m.Unit))
	case c.Latest == nil:
		s += fmt.Sprintf("it reaches the %s threshold around %s (not before %s; the interval also allows no crossing)",
			th, tofDate(c.At), tofDate(c.Earliest))
	default:
		s += fmt.Sprintf("it reaches the %s threshold around %s (between %s and %s)", th, tofDate(c.At), tofDate(c.Earliest), tofDate(*c.Latest))
	}
	return s + "; confidence " + tofPct(m.Confidence)
}

// tofRateScale is how a metric's slopes per day are written: a factor, a
// unit and decimals (ms/day for latencies under a second a day,
// percentage points for ratios).
func tofRateScale(m *MetricTrend) (factor float64, unit string, prec int) {
	big := max(math.Abs(m.SlopePerDay), math.Abs(m.SlopeLowPerDay), math.Abs(m.SlopeHighPerDay))
	switch {
	case m.Unit == "seconds" && big < 1:
		return 1000, "ms", 1
	case m.Unit == "seconds":
		return 1, "s", 3
	case m.Unit == "ratio":
		return 100, "pp", 3
	}
	return 1, "", 2
}

// tofNum writes v·f with prec decimals (and a sign when signed), a value
// that rounds to zero as an unsigned zero.
func tofNum(v, f float64, prec int, signed bool) string {
	v *= f
	if math.Abs(v) < 0.5*math.Pow(10, -float64(prec)) {
		v = 0
	}
	if signed && v != 0 {
		return fmt.Sprintf("%+.*f", prec, v)
	}
	return fmt.Sprintf("%.*f", prec, v)
}

// tofPct is a confidence in percent: whole, with more decimals (up to
// four) where rounding would say 0 or 100 % of one that is not.
func tofPct(v float64) string {
	var p string
	for prec := 0; prec <= 4; prec++ {
		p = strconv.FormatFloat(v*100, 'f', prec, 64)
		if x, _ := strconv.ParseFloat(p, 64); (x != 100 || v == 1) && (x != 0 || v == 0) {
			break
		}
	}
	return p + "%"
}

// tofSpaced is " "+unit, or nothing for no unit.
func tofSpaced(unit string) string {
	if unit == "" {
		return ""
	}
	return " " + unit
}

func tofDate(t time.Time) string { return t.UTC().Format("2006-01-02") }

// Markdown renders t: what was fitted, a table of every metric (latest
// fitted value, slope per day with its interval, R², direction, the
// confidence it is worsening, threshold, crossing), the metrics not
// fitted and why, and the preventive maintenance with its rule.
func (t *TrendReport) Markdown() string {
	var b bytes.Buffer
	title := fmt.Sprintf("Trend of plan %q", t.Plan)
	if t.Stack != "" {
		title += fmt.Sprintf(" on stack %q", t.Stack)
	}
	fmt.Fprintf(&b, "# %s\n\n%d runs from %s to %s (%s); Theil-Sen lines on the start time, slope intervals at %.0f%%; "+
		"confidence is the Mann-Kendall probability that the metric is worsening; days counted from %s.\n\n",
		title, len(t.Runs), tofDate(t.From), tofDate(t.To), FormatSpan(t.To.Sub(t.From)), t.Level*100, tofDate(t.Now))
	var rows [][]string
	var skipped []string
	for i := range t.Metrics {
		m := &t.Metrics[i]
		if m.Skipped != "" {
			skipped = append(skipped, fmt.Sprintf("- %s: %s", m.Metric, m.Skipped))
			continue
		}
		f, unit, prec := tofRateScale(m)
		rate := func(v float64) string { return tofNum(v, f, prec, true) }
		th := "-"
		if m.Threshold != nil {
			th = fmtDelta(*m.Threshold, m.Unit)
		}
		rows = append(rows, []string{m.Metric, fmt.Sprint(len(m.Points)), fmtDelta(m.Latest, m.Unit),
			strings.TrimSpace(fmt.Sprintf("%s %s", rate(m.SlopePerDay), unit)) + fmt.Sprintf(" (%s to %s)", rate(m.SlopeLowPerDay), rate(m.SlopeHighPerDay)),
			fmt.Sprintf("%.2f", m.R2), m.Direction, tofPct(m.Confidence), th, tofCrossingCell(m, t.Now)})
	}
	mdTable(&b, []string{"Metric", "Runs", "Latest (fit)", fmt.Sprintf("Slope/day (%.0f%% interval)", t.Level*100), "R²",
		"Direction", "Confidence", "Threshold", "Crossing"}, rows)
	if len(skipped) > 0 {
		b.WriteString("\nNot fitted:\n\n" + strings.Join(skipped, "\n") + "\n")
	}
	fmt.Fprintf(&b, "\n## Preventive maintenance\n\nRule: a metric whose fit heads to its threshold is scheduled for maintenance "+
		"when the confidence that it is worsening is above %.0f%%, with high priority above %.0f%%.\n\n",
		MaintenanceScheduled*100, MaintenanceHighPriority*100)
	if len(t.Suggestions) == 0 {
		b.WriteString("None suggested.\n")
	}
	for _, s := range t.Suggestions {
		fmt.Fprintf(&b, "- **%s** %s: before %s", s.Priority, s.Metric, tofDate(s.Before))
		if s.Window != "" {
			fmt.Fprintf(&b, ", in the window %s", s.Window)
		}
		fmt.Fprintf(&b, ". %s.\n", s.Reason)
	}
	return b.String()
}

// tofCrossingCell is the table's crossing: the date, how far from now,
// and the interval.
func tofCrossingCell(m *MetricTrend, now time.Time) string {
	c := m.Crossing
	switch {
	case m.Threshold == nil:
		return "-"
	case c == nil:
		return "not heading there"
	case c.Crossed:
		return "crossed (fit " + fmtDelta(m.Latest, m.Unit) + ")"
	}
	s := fmt.Sprintf("%s, in %.0f days (%s to ", tofDate(c.At), c.At.Sub(now).Hours()/24, tofDate(c.Earliest))
	if c.Latest == nil {
		return s + "never)"
	}
	return s + tofDate(*c.Latest) + ")"
}
