package reports

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Markdown renders r as report.md, for tickets and chat.
func Markdown(r *Report) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Drill report: %s\n\n", mdEsc(r.Plan))
	if r.Description != "" {
		fmt.Fprintf(&b, "%s\n\n", mdPara(r.Description))
	}
	fmt.Fprintf(&b, "**Verdict: %s** · grade **%s** · %s to %s (%s)\n\n", strings.ToUpper(string(r.Verdict)), r.Grade,
		fmtTime(r.StartedAt), fmtTime(r.FinishedAt), fmtSeconds(r.DurationSeconds()))
	if r.VerdictReason != "" {
		fmt.Fprintf(&b, "> %s\n\n", mdPara(r.VerdictReason))
	}
	b.WriteString("## Summary\n")
	for _, sec := range BriefOf(r).Sections() {
		fmt.Fprintf(&b, "\n**%s**\n\n", sec.Title)
		for _, l := range sec.Lines {
			fmt.Fprintf(&b, "- %s\n", mdPara(l))
		}
	}
	b.WriteString("\n## Measures\n\n")
	mdTable(&b, []string{"Measure", "Value"}, headline(r))
	mdSection(&b, "SLOs", sloHeader, sloRows(r.SLO))
	mdSection(&b, "SLOs as Prometheus saw them", sloHeader, sloRows(r.SLOPrometheus))
	mdSection(&b, "Steps", stepHeader, stepRows(r))
	b.WriteString("\n## Outages\n\n")
	if len(r.Outages) == 0 {
		b.WriteString("None.\n")
	} else {
		mdTable(&b, outageHeader, outageRows(r))
	}
	mdSection(&b, "Recovery phases", []string{"Phase", "Seconds"}, phaseRows(r.MTTRPhases))
	mdComponents(&b, r)
	if r.DR != nil {
		b.WriteString("\n## Disaster recovery\n\n")
		mdTable(&b, []string{"Measure", "Value"}, drRows(r.DR))
		if len(r.DR.Phases) > 0 {
			b.WriteString("\n")
			mdTable(&b, []string{"RTO phase", "Seconds"}, phaseRows(r.DR.Phases))
		}
	}
	mdSection(&b, "Rollouts", rolloutHeader, rolloutRows(r.Rollouts))
	mdSection(&b, "Deployment rollouts (Kubernetes)", deploymentHeader, deploymentRows(r.Rollouts))
	mdValidations(&b, r)
	mdSection(&b, "Alerts", alertHeader, alertRows(r.Alerts))
	if r.K6 != nil {
		mdSection(&b, "k6", []string{"Metric", "Values"}, k6Rows(r.K6))
	}
	mdSection(&b, "Services", serviceHeader, serviceRows(r.Services))
	b.WriteString("\n## Environment and capabilities\n\n")
	mdTable(&b, []string{"Item", "Value"}, envRows(r))
	for _, n := range r.Capabilities.Notes {
		fmt.Fprintf(&b, "\n- %s", mdPara(n))
	}
	if len(r.Capabilities.Notes) > 0 {
		b.WriteString("\n")
	}
	return b.Bytes(), nil
}

// mdEsc makes a user-supplied string (a plan, step or service name, an
// error, a description) literal text in Markdown, on one line and inside a
// table cell. HTML becomes entities (&lt;b&gt;), so no tag, comment or
// entity of its own reaches a renderer. Every character that could start
// emphasis, code, a link or an image ([), a strikethrough, a heading's
// closing #, GitHub's $math$ or end a cell is backslash-escaped.
// Underscores inside a word (latency_p95) stay as they are: CommonMark
// never reads them as emphasis. The redaction mask stays as it is, so a
// reader sees [REDACTED]; a "(" after it is escaped, so it cannot open a
// link.
func mdEsc(s string) string {
	var b strings.Builder
	prev := ' '
	for i := 0; i < len(s); {
		c, size := utf8.DecodeRuneInString(s[i:])
		next, _ := utf8.DecodeRuneInString(s[i+size:])
		switch {
		case c == '[' && strings.HasPrefix(s[i:], Redacted):
			b.WriteString(Redacted)
			size = len(Redacted)
			if strings.HasPrefix(s[i+size:], "(") {
				b.WriteByte('\\')
			}
		case c == '&':
			b.WriteString("&amp;")
		case c == '<':
			b.WriteString("&lt;")
		case c == '>':
			b.WriteString("&gt;")
		case c == '\r' || c == '\n' || c == '\t':
			b.WriteByte(' ')
		case strings.ContainsRune("\\`*[]|~#$", c):
			b.WriteByte('\\')
			b.WriteRune(c)
		case c == '_' && !(isWordRune(prev) && isWordRune(next)):
			b.WriteString(`\_`)
		default:
			b.WriteRune(c)
		}
		prev = c
		i += size
	}
	return b.String()
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// mdPara is mdEsc for text that starts a line of its own (a paragraph, a
// list item, a quote): a leading block marker (-, +, =, a number and a
// dot, a [ that could define a link reference) is escaped too, so it
// cannot become a list, a heading underline or a link definition.
func mdPara(s string) string {
	s = strings.TrimLeft(mdEsc(s), " ")
	if s == "" {
		return s
	}
	switch s[0] {
	case '-', '+', '=', '[':
		return `\` + s
	}
	if n := len(s) - len(strings.TrimLeft(s, "0123456789")); n > 0 && n < len(s) && (s[n] == '.' || s[n] == ')') {
		return s[:n] + `\` + s[n:]
	}
	return s
}

// mdSection writes a titled table, or nothing without rows.
func mdSection(b *bytes.Buffer, title string, head []string, rows [][]string) {
	if len(rows) == 0 {
		return
	}
	b.WriteString("\n## " + title + "\n\n")
	mdTable(b, head, rows)
}

func mdTable(b *bytes.Buffer, head []string, rows [][]string) {
	b.WriteString("| " + strings.Join(head, " | ") + " |\n|")
	for range head {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, row := range rows {
		cells := make([]string, len(row))
		for i, c := range row {
			cells[i] = mdEsc(c)
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05.000Z")
}

func fmtClock(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format("15:04:05.000")
}

func fmtOptSeconds(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmtSeconds(*p)
}

// The tables below are shared by the Markdown and HTML renderers.

func headline(r *Report) [][]string {
	rows := [][]string{
		{"Availability (request-based)", fmtPct(r.Availability.RequestBased)},
		{"Availability (time-based)", fmtPct(r.Availability.TimeBased)},
		{"Requests", fmt.Sprintf("%d total, %d failed (%s)", r.Requests.Total, r.Requests.Failed, fmtPct(r.Requests.ErrorRate()))},
	}
	if len(r.Requests.ByOutcome) > 0 {
		keys := slices.Sorted(maps.Keys(r.Requests.ByOutcome))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s %d", k, r.Requests.ByOutcome[k])
		}
		rows = append(rows, []string{"Outcomes", strings.Join(parts, ", ")})
	}
	rows = append(rows,
		[]string{"Latency p50 / p95 / p99", fmtQuantiles(r.Latency)},
		[]string{"TTFT p50 / p95 / p99", fmtQuantiles(r.TTFT)},
		[]string{"ITL p50 / p95 / p99", fmtQuantiles(r.ITL)},
		[]string{"TPOT p50 / p95 / p99", fmtQuantiles(r.TPOT)},
		[]string{"MTTR", fmtMean(r.MTTR())},
		[]string{"MTBF", fmtMean(r.MTBF())},
		[]string{"Outages", strconv.Itoa(len(r.Outages))},
	)
	if r.ThroughputRPS > 0 {
		rows = append(rows, []string{"Throughput", fmtUnit(r.ThroughputRPS, "rps")})
	}
	if r.GoodputRPS > 0 {
		rows = append(rows, []string{"Goodput", fmtUnit(r.GoodputRPS, "rps")})
	}
	return rows
}

// fmtQuantiles is "p50 / p95 / p99", or "not measured" without samples
// (never three 0 s).
func fmtQuantiles(q Quantiles) string {
	if !q.Measured() {
		return NotMeasured
	}
	return fmtSeconds(q.P50) + " / " + fmtSeconds(q.P95) + " / " + fmtSeconds(q.P99)
}

var sloHeader = []string{"SLO", "Target", "Actual", "Met", "Budget consumed", "Burn rate"}

func sloRows(ss []SLOResult) [][]string {
	var rows [][]string
	for _, s := range ss {
		met := "yes"
		switch {
		case s.NotEvaluated:
			met = "-- (not evaluated)"
		case s.NotMeasured:
			met = "NO (not measured)"
		case !s.Compliant:
			met = "NO"
		}
		budget, burn := "-", "-"
		if s.BudgetConsumed != nil {
			budget = fmtPct(*s.BudgetConsumed)
		}
		if s.BurnRate != nil {
			burn = strconv.FormatFloat(*s.BurnRate, 'f', 2, 64)
		}
		rows = append(rows, []string{s.Name, strings.TrimSpace(s.Op + " " + fmtUnit(s.Target, s.Unit)), sloActual(s), met, budget, burn})
	}
	return rows
}

var stepHeader = []string{"Step", "Kind", "Target", "Start", "Duration", "Status", "Users recovered", "Mechanism", "Detail"}

func stepRows(r *Report) [][]string {
	var rows [][]string
	for _, s := range r.Steps {
		rows = append(rows, []string{s.Name, s.Kind, s.Target, relTime(r.StartedAt, s.StartedAt), fmtSeconds(s.DurationSeconds()),
			s.Status, userRecovery(s), s.Mechanism, s.Error})
	}
	return rows
}

// userRecovery is how long after a fault or an action users were served
// again: the time, "no outage" when the step ran and users saw none, "-"
// for other steps (component recovery has its own table).
func userRecovery(s Step) string {
	if s.RecoverySeconds != nil {
		return fmtSeconds(*s.RecoverySeconds)
	}
	ran := s.Status == StatusPassed || s.Status == StatusFailed
	if ran && (strings.HasPrefix(s.Kind, "fault:") || strings.HasPrefix(s.Kind, "action:")) {
		return "no outage"
	}
	return "-"
}

// relTime renders t as an offset from the drill's start: "+12.345s".
func relTime(start, t time.Time) string {
	if t.IsZero() || start.IsZero() {
		return "-"
	}
	return fmt.Sprintf("+%.3fs", t.Sub(start).Seconds())
}

var outageHeader = []string{"Start", "End", "Duration", "Cause"}

func outageRows(r *Report) [][]string {
	var rows [][]string
	for _, o := range r.Outages {
		rows = append(rows, []string{relTime(r.StartedAt, o.Start), relTime(r.StartedAt, o.End), fmtSeconds(o.DurationSeconds), o.Cause})
	}
	return rows
}

func phaseRows(ps []Phase) [][]string {
	var rows [][]string
	for _, p := range ps {
		rows = append(rows, []string{p.Name, strconv.FormatFloat(p.Seconds, 'f', 3, 64)})
	}
	return rows
}

func drRows(d *DR) [][]string {
	rows := [][]string{{"RTO", fmtOptSeconds(d.RTOSeconds)}, {"RPO", fmtOptSeconds(d.RPOSeconds)}}
	rpoRows := "-"
	if d.RPORows != nil {
		rpoRows = strconv.FormatInt(*d.RPORows, 10)
	}
	rows = append(rows, []string{"Rows lost (RPO)", rpoRows})
	golden := "-"
	if d.GoldenPromptMatch != nil {
		golden = map[bool]string{true: "identical", false: "DIFFERENT"}[*d.GoldenPromptMatch]
	}
	rows = append(rows, []string{"Golden prompt after restore", golden})
	if d.BackupDir != "" {
		rows = append(rows, []string{"Backup", d.BackupDir})
	}
	for _, n := range d.Notes {
		rows = append(rows, []string{"Note", n})
	}
	return rows
}

var rolloutHeader = []string{"Kind", "Target", "From", "To", "Failed requests", "Decision", "Duration", "Switch", "Rollback", "Evidence"}

func rolloutRows(rs []Rollout) [][]string {
	var rows [][]string
	for _, r := range rs {
		rows = append(rows, []string{r.Kind, r.Target, r.From, r.To, strconv.FormatInt(r.FailedRequests, 10), r.Decision,
			fmtSeconds(r.DurationSeconds), fmtOptSeconds(r.SwitchSeconds), fmtOptSeconds(r.RollbackSeconds), strings.Join(r.Evidence, "; ")})
	}
	return rows
}

var alertHeader = []string{"Alert", "Step", "Fired", "Delay after fault", "Resolved", "Notified"}

func alertRows(as []Alert) [][]string {
	var rows [][]string
	for _, a := range as {
		fired := fmtClock(a.FiredAt)
		if a.FiredAt == nil {
			fired = "NOT FIRED"
		}
		rows = append(rows, []string{a.Name, a.Step, fired, fmtOptSeconds(a.DelaySeconds), fmtClock(a.ResolvedAt), strconv.FormatBool(a.Notified)})
	}
	return rows
}

func k6Rows(k *K6) [][]string {
	var rows [][]string
	for _, n := range slices.Sorted(maps.Keys(k.Metrics)) {
		m := k.Metrics[n]
		keys := slices.Sorted(maps.Keys(m))
		parts := make([]string, len(keys))
		for i, s := range keys {
			parts[i] = s + "=" + strconv.FormatFloat(m[s], 'g', 6, 64)
		}
		rows = append(rows, []string{n, strings.Join(parts, " ")})
	}
	for _, th := range slices.Sorted(maps.Keys(k.Thresholds)) {
		rows = append(rows, []string{"threshold " + th, map[bool]string{true: "held", false: "NO"}[k.Thresholds[th]]})
	}
	return rows
}

var serviceHeader = []string{"Service", "Role", "URL", "Image", "Version before", "Version after"}

func serviceRows(ss []Service) [][]string {
	var rows [][]string
	for _, s := range ss {
		after := s.VersionAfter
		if after != "" && after != s.VersionBefore {
			after += " (changed)"
		}
		rows = append(rows, []string{s.Name, s.Role, s.URL, s.Image, s.VersionBefore, after})
	}
	return rows
}

func envRows(r *Report) [][]string {
	e, c := r.Environment, r.Capabilities
	netem := "available"
	if !c.Netem {
		netem = "missing (fallback used)"
	}
	rows := [][]string{
		{"Host", e.Host}, {"Kernel", e.Kernel}, {"OS/arch", strings.Trim(e.OS+"/"+e.Arch, "/")},
		{"CPUs", strconv.Itoa(e.CPUs)}, {"Go", e.GoVersion}, {"drill version", e.ToolVersion},
		{"Stack", c.StackKind}, {"netem", netem}, {"Latency mechanism", c.LatencyMechanism},
		{"Loss mechanism", c.LossMechanism}, {"nftables", strconv.FormatBool(c.Nftables)},
		{"GPU discovery", c.GPU}, {"Prometheus", strconv.FormatBool(c.Prometheus)},
	}
	for _, k := range slices.Sorted(maps.Keys(c.Extra)) {
		rows = append(rows, []string{k, c.Extra[k]})
	}
	return rows
}
