package reports

import (
	"fmt"
	"strings"
)

// The brief's sentences about components: what broke behind the gateway,
// how long each hurt service took to recover, and what to fix there, from
// the report's component recovery and service availability.

// rotationLagToFix is how long a ready replica may wait for the gateway to
// put it back in rotation before the brief asks to look at it.
const rotationLagToFix = 2.0

// hurt are the component recoveries that began an outage (not those of a
// step that found its service already down).
func hurt(r *Report) []StepRecovery {
	if r.ComponentRecovery == nil {
		return nil
	}
	var out []StepRecovery
	for _, s := range r.ComponentRecovery.Steps {
		if s.Outage && s.Since == "" {
			out = append(out, s)
		}
	}
	return out
}

// componentBreaks: each component outage with what users felt meanwhile,
// and each service that did not answer all its direct checks.
func componentBreaks(r *Report) []string {
	var lines []string
	for _, s := range hurt(r) {
		line := fmt.Sprintf("%s was down %s after %q", s.Service, componentDowntime(s), s.Step)
		if u := s.Users; u != nil && u.Requests > 0 {
			line += fmt.Sprintf("; users meanwhile: %d of %d requests failed", u.Failed, u.Requests)
			if u.P95Seconds != nil {
				line += ", p95 " + humanSeconds(*u.P95Seconds)
				if u.BaselineP95Seconds != nil {
					line += fmt.Sprintf(" (%s before the first fault)", humanSeconds(*u.BaselineP95Seconds))
				}
			}
		}
		lines = append(lines, line+".")
	}
	for _, s := range r.ServiceAvailability {
		if s.Availability != nil && *s.Availability < 1 {
			n := len(s.Outages)
			lines = append(lines, fmt.Sprintf("%s, probed directly (%s), was available %s: %d of %d checks failed, %d %s.",
				s.Name, s.Mode, fmtPct(*s.Availability), s.Failed, s.Requests, n, plural(n, "outage", "outages")))
		}
	}
	return lines
}

// componentDowntime is "8.3 s", or "at least 8.3 s (still down at the end)".
func componentDowntime(s StepRecovery) string {
	d := "an unknown time"
	if s.DowntimeSeconds != nil {
		d = humanSeconds(*s.DowntimeSeconds)
	}
	if s.Ongoing {
		return "at least " + d + " (still down when the drill ended)"
	}
	return d
}

// componentLines: each hurt service's recovery with its phases, then the
// components' MTTR and MTBF.
func componentLines(r *Report) []string {
	var lines []string
	for _, s := range hurt(r) {
		line := fmt.Sprintf("%s after %q: ", s.Service, s.Step)
		if s.RecoverySeconds != nil && !s.Ongoing {
			line += "served again " + humanSeconds(*s.RecoverySeconds) + " after the step"
		} else {
			line += "not recovered when the drill ended"
		}
		if ps := phaseSentence(s); ps != "" {
			line += " (" + ps + ")"
		}
		lines = append(lines, line+".")
	}
	if c := r.ComponentRecovery; c != nil && c.MTTRSeconds != nil {
		n := len(c.Outages)
		line := fmt.Sprintf("Over the %d component %s: MTTR %s", n, plural(n, "outage", "outages"), humanSeconds(*c.MTTRSeconds))
		if c.MTBFSeconds != nil {
			line += ", MTBF " + humanSeconds(*c.MTBFSeconds)
		}
		lines = append(lines, line+".")
	}
	return lines
}

// phaseSentence lists the measured phases from the step ("detected +0.4 s,
// ready +7.5 s") and names those not measured.
func phaseSentence(s StepRecovery) string {
	var parts, missing []string
	for _, name := range componentPhaseOrder {
		p, ok := s.Phase(name)
		switch {
		case !ok || p.Status == PhaseNotApplicable:
		case p.Status == PhaseMeasured && p.Seconds != nil:
			parts = append(parts, fmt.Sprintf("%s %s%s", strings.ReplaceAll(name, "-", " "), sign(*p.Seconds), humanSeconds(abs(*p.Seconds))))
		default:
			missing = append(missing, strings.ReplaceAll(name, "-", " "))
		}
	}
	if len(missing) > 0 {
		parts = append(parts, strings.Join(missing, ", ")+" not measured")
	}
	return strings.Join(parts, ", ")
}

func sign(v float64) string {
	if v < 0 {
		return "-"
	}
	return "+"
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// componentFixes: a ready replica kept out of rotation, and users failing
// while a replica was down behind a gateway with others to route to.
func componentFixes(r *Report) []string {
	var lines []string
	for _, s := range hurt(r) {
		ready, okR := s.Phase(PhaseReady)
		rot, okI := s.Phase(PhaseInRotation)
		if okR && okI && ready.Seconds != nil && rot.Seconds != nil && ready.Status == PhaseMeasured && rot.Status == PhaseMeasured {
			if lag := *rot.Seconds - *ready.Seconds; lag >= rotationLagToFix {
				lines = append(lines, fmt.Sprintf("%s was ready %s before the gateway put it back in rotation after %q: look at the gateway's cooldown and health-check interval.",
					s.Service, humanSeconds(lag), s.Step))
			}
		}
		if u := s.Users; u != nil && u.Failed > 0 && routable(r, s.Service) {
			lines = append(lines, fmt.Sprintf("%d user requests failed while %s was down after %q although other replicas were there: look at how fast the gateway stops sending to a failed replica, and whether it retries on another.",
				u.Failed, s.Service, s.Step))
		}
	}
	return lines
}

// routable reports whether service is one of several model replicas, so
// that a gateway had others to route to.
func routable(r *Report, service string) bool {
	models, isModel := 0, false
	for _, s := range r.Services {
		if s.Role == "model" {
			models++
			isModel = isModel || s.Name == service
		}
	}
	return isModel && models > 1
}
