package reports

import (
	"cmp"
	"encoding/xml"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// JUnit XML in the profile every CI reads (see CONVENTIONS.md): one
// testsuite per drill, one testcase per step and per SLO; a breached SLO or
// a deviated hypothesis is a failure, a broken injection or revert an error.
// Every element carries only attributes the common schema (the Jenkins
// xUnit plugin's junit-10.xsd, which Ant's and Surefire's output also
// follow) allows: <testsuites> has no skipped count, so it is only on
// <testsuite>.

// JUnitSuites is the <testsuites> root element.
type JUnitSuites struct {
	XMLName xml.Name `xml:"testsuites"`
	Name    string   `xml:"name,attr"`
	JUnitRootTotals
	Suites []JUnitSuite `xml:"testsuite"`
}

// JUnitRootTotals are the counts and the time, in seconds, of
// <testsuites>: the schema allows no skipped count there.
type JUnitRootTotals struct {
	Tests    int    `xml:"tests,attr"`
	Failures int    `xml:"failures,attr"`
	Errors   int    `xml:"errors,attr"`
	Time     string `xml:"time,attr"`
}

// JUnitTotals are the counts and the time, in seconds, of one
// <testsuite>.
type JUnitTotals struct {
	Tests    int    `xml:"tests,attr"`
	Failures int    `xml:"failures,attr"`
	Errors   int    `xml:"errors,attr"`
	Skipped  int    `xml:"skipped,attr"`
	Time     string `xml:"time,attr"`
}

// root is t without the skipped count, for <testsuites>.
func (t JUnitTotals) root() JUnitRootTotals {
	return JUnitRootTotals{Tests: t.Tests, Failures: t.Failures, Errors: t.Errors, Time: t.Time}
}

// JUnitSuite is one <testsuite>.
type JUnitSuite struct {
	Name string `xml:"name,attr"`
	JUnitTotals
	Timestamp  string          `xml:"timestamp,attr"`
	Hostname   string          `xml:"hostname,attr"`
	Properties []JUnitProperty `xml:"properties>property"`
	Cases      []JUnitCase     `xml:"testcase"`
	SystemOut  string          `xml:"system-out,omitempty"`
}

// JUnitProperty is one <property name value>.
type JUnitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// JUnitCase is one <testcase>; at most one of Failure, Error, Skipped is set.
type JUnitCase struct {
	Classname string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *JUnitMessage `xml:"failure,omitempty"`
	Error     *JUnitMessage `xml:"error,omitempty"`
	Skipped   *JUnitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

// JUnitMessage is the body of a failure, error or skipped element.
type JUnitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

func secs(f float64) string { return strconv.FormatFloat(f, 'f', 3, 64) }

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// optNum is num of a mean that needs outages, or NoOutages.
func optNum(f float64, ok bool) string {
	if !ok {
		return NoOutages
	}
	return num(f)
}

// JUnitOf builds the JUnit document of r.
func JUnitOf(r *Report) JUnitSuites {
	suite := JUnitSuite{
		Name:        r.Plan,
		JUnitTotals: JUnitTotals{Time: secs(r.DurationSeconds())},
		Hostname:    cmp.Or(r.Environment.Host, "localhost"),
	}
	if !r.StartedAt.IsZero() {
		suite.Timestamp = r.StartedAt.UTC().Format("2006-01-02T15:04:05")
	}
	suite.Properties = junitProperties(r)
	for _, s := range r.Steps {
		suite.Cases = append(suite.Cases, stepCase(r.Plan, s))
	}
	for _, s := range r.SLO {
		suite.Cases = append(suite.Cases, sloCase(r.Plan, s))
	}
	if c, ok := drillErrorCase(r, suite.Cases); ok {
		suite.Cases = append(suite.Cases, c)
	}
	suite.count()
	suite.SystemOut = summaryText(r)
	return JUnitSuites{Name: r.Plan, JUnitRootTotals: suite.root(), Suites: []JUnitSuite{suite}}
}

// stepCase is the testcase of one step: a deviated hypothesis is a failure,
// a broken step an error.
func stepCase(plan string, s Step) JUnitCase {
	c := JUnitCase{Classname: plan, Name: "step: " + s.Name, Time: secs(s.DurationSeconds())}
	out := []string{"kind: " + s.Kind}
	if s.Target != "" {
		out = append(out, "target: "+s.Target)
	}
	if s.Mechanism != "" {
		out = append(out, "mechanism: "+s.Mechanism)
	}
	if s.RecoverySeconds != nil {
		out = append(out, "recovery_seconds: "+secs(*s.RecoverySeconds))
	}
	c.SystemOut = strings.Join(out, "\n")
	switch s.Status {
	case StatusFailed:
		msg := cmp.Or(s.Error, "hypothesis deviated")
		c.Failure = &JUnitMessage{Message: msg, Type: "deviation", Text: msg}
	case StatusError:
		msg := cmp.Or(s.Error, "step broke")
		c.Error = &JUnitMessage{Message: msg, Type: "harness", Text: msg}
	case StatusSkipped:
		c.Skipped = &JUnitMessage{Message: cmp.Or(s.Error, "not run")}
	}
	return c
}

// sloCase is the testcase of one SLO judgement: a breach is a failure
// whose message is the comparison that failed ("availability 97.120% <
// target 99.000%"), an objective with nothing measured a failure saying so.
func sloCase(plan string, s SLOResult) JUnitCase {
	msg := SLOStatement(s)
	text := msg
	if d := sloDetail(s); d != "" {
		text += "\n" + d
	}
	c := JUnitCase{Classname: plan, Name: "slo: " + s.Name, Time: "0.000", SystemOut: text}
	switch {
	case s.NotEvaluated:
		c.Skipped = &JUnitMessage{Message: msg}
	case s.NotMeasured:
		c.Failure = &JUnitMessage{Message: msg, Type: "slo-not-measured", Text: text}
	case !s.Compliant:
		c.Failure = &JUnitMessage{Message: msg, Type: "slo", Text: text}
	}
	return c
}

// drillErrorCase makes an aborted or broken run visible as an error when no
// case carries one.
func drillErrorCase(r *Report, cases []JUnitCase) (JUnitCase, bool) {
	if r.Verdict != VerdictAborted && r.Verdict != VerdictError {
		return JUnitCase{}, false
	}
	for _, c := range cases {
		if c.Error != nil {
			return JUnitCase{}, false
		}
	}
	msg := cmp.Or(r.VerdictReason, "drill "+string(r.Verdict))
	return JUnitCase{Classname: r.Plan, Name: "drill", Time: secs(r.DurationSeconds()),
		Error: &JUnitMessage{Message: msg, Type: string(r.Verdict), Text: msg}}, true
}

// count sets the suite's totals from its cases.
func (s *JUnitSuite) count() {
	for _, c := range s.Cases {
		s.Tests++
		switch {
		case c.Failure != nil:
			s.Failures++
		case c.Error != nil:
			s.Errors++
		case c.Skipped != nil:
			s.Skipped++
		}
	}
}

// JUnit renders r as junit.xml.
func JUnit(r *Report) ([]byte, error) {
	b, err := xml.MarshalIndent(JUnitOf(r), "", "  ")
	if err != nil {
		return nil, err
	}
	return append(append([]byte(xml.Header), b...), '\n'), nil
}

func junitProperties(r *Report) []JUnitProperty {
	p := []JUnitProperty{
		{"verdict", string(r.Verdict)},
		{"grade", r.Grade},
		{"availability.request_based", num(r.Availability.RequestBased)},
		{"availability.time_based", num(r.Availability.TimeBased)},
		{"requests.total", strconv.FormatInt(r.Requests.Total, 10)},
		{"requests.failed", strconv.FormatInt(r.Requests.Failed, 10)},
		{"mttr_seconds", optNum(r.MTTR())},
		{"mtbf_seconds", optNum(r.MTBF())},
		{"latency_seconds.p50", quantileNum(r.Latency, r.Latency.P50)},
		{"latency_seconds.p95", quantileNum(r.Latency, r.Latency.P95)},
		{"latency_seconds.p99", quantileNum(r.Latency, r.Latency.P99)},
		{"ttft_seconds.p95", quantileNum(r.TTFT, r.TTFT.P95)},
		{"itl_seconds.p95", quantileNum(r.ITL, r.ITL.P95)},
		{"tpot_seconds.p95", quantileNum(r.TPOT, r.TPOT.P95)},
		{"outages", strconv.Itoa(len(r.Outages))},
		{"capabilities.netem", strconv.FormatBool(r.Capabilities.Netem)},
	}
	if r.Capabilities.LatencyMechanism != "" {
		p = append(p, JUnitProperty{"capabilities.latency_mechanism", r.Capabilities.LatencyMechanism})
	}
	for _, k := range slices.Sorted(maps.Keys(r.Requests.ByOutcome)) {
		p = append(p, JUnitProperty{"requests." + k, strconv.FormatInt(r.Requests.ByOutcome[k], 10)})
	}
	if r.DR != nil {
		if r.DR.RTOSeconds != nil {
			p = append(p, JUnitProperty{"dr.rto_seconds", num(*r.DR.RTOSeconds)})
		}
		if r.DR.RPOSeconds != nil {
			p = append(p, JUnitProperty{"dr.rpo_seconds", num(*r.DR.RPOSeconds)})
		}
		if r.DR.RPORows != nil {
			p = append(p, JUnitProperty{"dr.rpo_rows", strconv.FormatInt(*r.DR.RPORows, 10)})
		}
	}
	for _, s := range r.Services {
		if s.VersionBefore != "" || s.VersionAfter != "" {
			p = append(p, JUnitProperty{"service." + s.Name + ".version", s.VersionBefore + " -> " + s.VersionAfter})
		}
	}
	if r.Environment.ToolVersion != "" {
		p = append(p, JUnitProperty{"tool_version", r.Environment.ToolVersion})
	}
	p = append(p, componentProperties(r)...)
	p = append(p, validationProperties(r)...)
	return append(p, targetProperties(r)...)
}

// quantileNum is the property value of a percentile v of q: "not
// measured" when q has no samples, never 0.
func quantileNum(q Quantiles, v float64) string {
	if !q.Measured() {
		return NotMeasured
	}
	return num(v)
}

// targetProperties are the run's seed and, per step that acted on
// services, the ones its target resolved to ("step.NAME.targets").
func targetProperties(r *Report) []JUnitProperty {
	var p []JUnitProperty
	if r.Seed != nil {
		p = append(p, JUnitProperty{"seed", strconv.FormatUint(*r.Seed, 10)})
	}
	for _, s := range r.Steps {
		if len(s.Targets) > 0 {
			p = append(p, JUnitProperty{"step." + s.Name + ".targets", strings.Join(s.Targets, ",")})
		}
	}
	return p
}

// fmtUnit renders a value in its unit for people.
func fmtUnit(v float64, unit string) string { return fmtUnitPrec(v, unit, 0) }

func fmtSeconds(v float64) string { return secondsPrec(v, 0) }

func fmtPct(v float64) string { return strconv.FormatFloat(v*100, 'f', 3, 64) + "%" }

// summaryText is a few lines for logs and system-out.
func summaryText(r *Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "plan %s: verdict %s, grade %s\n", r.Plan, r.Verdict, r.Grade)
	if r.VerdictReason != "" {
		fmt.Fprintf(&b, "reason: %s\n", r.VerdictReason)
	}
	fmt.Fprintf(&b, "availability %s (request-based), %s (time-based); %d of %d requests failed\n",
		fmtPct(r.Availability.RequestBased), fmtPct(r.Availability.TimeBased), r.Requests.Failed, r.Requests.Total)
	fmt.Fprintf(&b, "latency p50 %s p95 %s p99 %s; %s\n",
		fmtSeconds(r.Latency.P50), fmtSeconds(r.Latency.P95), fmtSeconds(r.Latency.P99), outageLine(r))
	return b.String()
}

// outageLine is "no outages (MTTR and MTBF need one)" or "2 outages, MTTR
// 3.500 s, MTBF 20.000 s".
func outageLine(r *Report) string {
	mttr, ok := r.MTTR()
	if !ok {
		return "no outages (MTTR and MTBF need one)"
	}
	mtbf, _ := r.MTBF()
	n := len(r.Outages)
	return fmt.Sprintf("%d %s, MTTR %s, MTBF %s", n, plural(n, "outage", "outages"), fmtSeconds(mttr), fmtSeconds(mtbf))
}

// plural picks one or many by n.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Summary returns a short plain-text summary of r (for the CLI and logs).
func Summary(r *Report) string { return summaryText(r) }
