package reports

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// The component-recovery and service-availability sections, shared by the
// Markdown and HTML renderers, and their JUnit properties.

// componentPhaseOrder is the order phases are shown in.
var componentPhaseOrder = []string{PhaseDetected, PhaseProcessBack, PhaseModelLoaded, PhaseReady, PhaseFirstToken, PhaseInRotation}

var componentHeader = []string{"Step", "Service", "Downtime", "Recovery", "Detected", "Process back", "Model loaded", "Ready",
	"First token", "In rotation", "Users: failed", "Users: p95 (extra)", "Users: outage"}

// componentIntro says how components were watched, in a line.
func componentIntro(c *ComponentRecovery) string {
	return fmt.Sprintf("Each service a fault or a restore hurt was watched directly, independently of the users' probe: "+
		"its health, a tiny completion with a deadline, the gateway's view of it and its processes, every %s; "+
		"%d failed checks in a row open a component outage, %d good ones close it. Phases count from the step.",
		fmtSeconds(c.IntervalSeconds), c.Rule.Failures, c.Rule.Successes)
}

// mttrRows put the components' MTTR and MTBF beside the users'.
func mttrRows(r *Report) [][]string {
	c := r.ComponentRecovery
	cm, cb := optMean(c.MTTRSeconds), optMean(c.MTBFSeconds)
	um, ub := fmtMean(r.MTTR()), fmtMean(r.MTBF())
	return [][]string{
		{"Outages", strconv.Itoa(len(c.Outages)), strconv.Itoa(len(r.Outages))},
		{"MTTR", cm, um},
		{"MTBF", cb, ub},
	}
}

var mttrHeader = []string{"Measure", "Components (watched directly)", "Users (through the gateway)"}

func optMean(p *float64) string {
	if p == nil {
		return NoOutages
	}
	return fmtSeconds(*p)
}

// componentRows is one row per step and service it hurt.
func componentRows(c *ComponentRecovery) [][]string {
	var rows [][]string
	for _, s := range c.Steps {
		// Why there was none, and since when it was down, are in the
		// notes below the table: the cells stay short enough to print.
		row := []string{s.Step, s.Service, "none", "-"}
		switch {
		case s.DowntimeSeconds != nil && s.Ongoing:
			row[2] = "≥ " + fmtSeconds(*s.DowntimeSeconds) + " (not recovered)"
		case s.DowntimeSeconds != nil:
			row[2] = fmtSeconds(*s.DowntimeSeconds)
		}
		if s.Since != "" {
			row[2] += " (earlier)"
		}
		if s.RecoverySeconds != nil && !s.Ongoing {
			row[3] = fmtSeconds(*s.RecoverySeconds)
		}
		for _, name := range componentPhaseOrder {
			row = append(row, phaseCell(s, name))
		}
		rows = append(rows, append(row, userCells(s.Users)...))
	}
	return rows
}

// phaseCell renders a phase: "+8.123 s", "n/a" or "not measured".
func phaseCell(s StepRecovery, name string) string {
	p, ok := s.Phase(name)
	switch {
	case !ok:
		return "-"
	case p.Status == PhaseMeasured && p.Seconds != nil && *p.Seconds < 0:
		return "-" + fmtSeconds(-*p.Seconds)
	case p.Status == PhaseMeasured && p.Seconds != nil:
		return "+" + fmtSeconds(*p.Seconds)
	case p.Status == PhaseNotApplicable:
		return "n/a"
	}
	return NotMeasured
}

func userCells(u *UserImpact) []string {
	if u == nil {
		return []string{"-", "-", "-"}
	}
	failed := fmt.Sprintf("%d of %d", u.Failed, u.Requests)
	p95 := "-"
	if u.P95Seconds != nil {
		p95 = fmtSeconds(*u.P95Seconds)
		if u.ExtraP95Seconds != nil {
			p95 += " (+" + fmtSeconds(*u.ExtraP95Seconds) + ")"
		}
	}
	outage := "none"
	if u.OutageSeconds > 0 {
		outage = fmtSeconds(u.OutageSeconds)
	}
	return []string{failed, p95, outage}
}

// componentNotes explains each step without a component outage, each
// downtime that began at an earlier step, and each phase that was not
// measured or does not apply. A note that holds for several rows is given
// once with the rows it holds for ("every row" when it holds for all).
func componentNotes(c *ComponentRecovery) []string {
	var order []string
	rowsOf, phaseNote := map[string][]string{}, map[string]bool{}
	add := func(note, row string) {
		if _, ok := rowsOf[note]; !ok {
			order = append(order, note)
		}
		rowsOf[note] = append(rowsOf[note], row)
	}
	for _, s := range c.Steps {
		row := fmt.Sprintf("%s (%s)", s.Step, s.Service)
		if s.Note != "" && !s.Outage {
			add(s.Note, row)
		}
		if s.Since != "" {
			add("the downtime began at an earlier step, "+s.Since, row)
		}
		for _, p := range s.Phases {
			if p.Status != PhaseMeasured && p.Note != "" {
				add(p.Name+": "+p.Note, row)
				phaseNote[p.Name+": "+p.Note] = true
			}
		}
	}
	withPhases := 0
	for _, s := range c.Steps {
		if len(s.Phases) > 0 {
			withPhases++
		}
	}
	out := make([]string, 0, len(order))
	for _, note := range order {
		rows := rowsOf[note]
		switch {
		case len(rows) < 2:
		case len(rows) == len(c.Steps):
			out = append(out, note+" (every row)")
			continue
		case len(rows) == withPhases && phaseNote[note]:
			out = append(out, note+" (every row with phases)")
			continue
		}
		out = append(out, note+" — "+strings.Join(rows, ", "))
	}
	return out
}

var serviceAvailHeader = []string{"Service", "Role", "Probe", "Availability", "Requests (failed)", "Outages", "MTTR", "p95"}

func serviceAvailRows(ss []ServiceAvailability) [][]string {
	var rows [][]string
	for _, s := range ss {
		av, p95 := NotMeasured, NotMeasured
		if s.Availability != nil {
			av = fmtPct(*s.Availability)
		}
		if s.P95Seconds != nil {
			p95 = fmtSeconds(*s.P95Seconds)
		}
		probe := fmt.Sprintf("%s every %s", s.Mode, fmtSeconds(s.IntervalSeconds))
		rows = append(rows, []string{s.Name, s.Role, probe, av, fmt.Sprintf("%d (%d)", s.Requests, s.Failed),
			strconv.Itoa(len(s.Outages)), optMean(s.MTTRSeconds), p95})
	}
	return rows
}

// mdComponents writes the Markdown sections.
func mdComponents(b *bytes.Buffer, r *Report) {
	if c := r.ComponentRecovery; c != nil {
		b.WriteString("\n## Component recovery\n\n" + mdEsc(componentIntro(c)) + "\n\n")
		mdTable(b, mttrHeader, mttrRows(r))
		b.WriteString("\n")
		mdTable(b, componentHeader, componentRows(c))
		notes := componentNotes(c)
		for _, n := range notes {
			b.WriteString("\n- " + mdEsc(n))
		}
		if len(notes) > 0 {
			b.WriteString("\n")
		}
	}
	mdSection(b, "Service availability (each service probed directly)", serviceAvailHeader, serviceAvailRows(r.ServiceAvailability))
}

// htmlComponents adds the HTML tables through add (title, head, rows, empty).
func htmlComponents(r *Report, add func(title string, head []string, rows [][]string, empty string)) {
	if c := r.ComponentRecovery; c != nil {
		add("Component recovery: MTTR and MTBF", mttrHeader, mttrRows(r), "")
		add("Component recovery by step", componentHeader, componentRows(c), "")
		var notes [][]string
		for _, n := range append([]string{componentIntro(c)}, componentNotes(c)...) {
			notes = append(notes, []string{n})
		}
		add("Component recovery: how it was measured, and what was not", []string{"Note"}, notes, "")
	}
	add("Service availability (each service probed directly)", serviceAvailHeader, serviceAvailRows(r.ServiceAvailability), "")
}

// componentProperties are the JUnit properties of the component recovery
// and the service availability; a value not measured is left out.
func componentProperties(r *Report) []JUnitProperty {
	var p []JUnitProperty
	if c := r.ComponentRecovery; c != nil {
		p = append(p, JUnitProperty{"component.rule", fmt.Sprintf("%d failures / %d successes", c.Rule.Failures, c.Rule.Successes)},
			JUnitProperty{"component.outages", strconv.Itoa(len(c.Outages))},
			JUnitProperty{"component.mttr_seconds", optNumPtr(c.MTTRSeconds)},
			JUnitProperty{"component.mtbf_seconds", optNumPtr(c.MTBFSeconds)})
		for _, s := range c.Steps {
			p = append(p, stepComponentProperties(s)...)
		}
	}
	for _, s := range r.ServiceAvailability {
		pre := "service." + s.Name + "."
		p = append(p, JUnitProperty{pre + "probe", s.Mode}, JUnitProperty{pre + "outages", strconv.Itoa(len(s.Outages))})
		if s.Availability != nil {
			p = append(p, JUnitProperty{pre + "availability", num(*s.Availability)})
		}
		if s.P95Seconds != nil {
			p = append(p, JUnitProperty{pre + "p95_seconds", num(*s.P95Seconds)})
		}
		p = append(p, JUnitProperty{pre + "mttr_seconds", optNumPtr(s.MTTRSeconds)})
	}
	return p
}

func optNumPtr(v *float64) string {
	if v == nil {
		return NoOutages
	}
	return num(*v)
}

func stepComponentProperties(s StepRecovery) []JUnitProperty {
	pre := "step." + s.Step + ".component." + s.Service + "."
	if !s.Outage {
		return []JUnitProperty{{pre + "downtime_seconds", "none"}}
	}
	var p []JUnitProperty
	if s.DowntimeSeconds != nil {
		p = append(p, JUnitProperty{pre + "downtime_seconds", num(*s.DowntimeSeconds)})
	}
	if s.RecoverySeconds != nil && !s.Ongoing {
		p = append(p, JUnitProperty{pre + "recovery_seconds", num(*s.RecoverySeconds)})
	}
	for _, ph := range s.Phases {
		v := NotMeasured
		switch {
		case ph.Status == PhaseMeasured && ph.Seconds != nil:
			v = num(*ph.Seconds)
		case ph.Status == PhaseNotApplicable:
			v = "not applicable"
		}
		p = append(p, JUnitProperty{pre + "phase." + ph.Name + "_seconds", v})
	}
	if u := s.Users; u != nil {
		p = append(p, JUnitProperty{pre + "users.failed", strconv.FormatInt(u.Failed, 10)})
		if u.P95Seconds != nil {
			p = append(p, JUnitProperty{pre + "users.p95_seconds", num(*u.P95Seconds)})
		}
	}
	return p
}
