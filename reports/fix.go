package reports

import (
	"fmt"
	"strconv"
	"strings"
)

// unanswering are the fault kinds that leave a replica up but silent, so
// that a gateway waits on it before it tries another one.
var unanswering = map[string]bool{
	"network-partition": true, "network-loss": true, "network-delay": true,
	"network-bandwidth": true, "container-pause": true, "gpu-hang": true,
}

// fixLines: what to act on, each with the evidence that points at it.
func fixLines(r *Report, ims []impact) []string {
	var lines []string
	for _, s := range r.SLO {
		if !s.Compliant && !s.NotEvaluated {
			lines = append(lines, sloFix(r, s, ims))
		}
	}
	for _, s := range r.Steps {
		switch {
		case s.Status == StatusError && strings.Contains(s.Error, "revert"):
			lines = append(lines, fmt.Sprintf("%q left something behind (%s): run `drill cleanup`, then `drill doctor`.", s.Name, strings.TrimSuffix(s.Error, ".")))
		case s.Status == StatusError:
			lines = append(lines, fmt.Sprintf("%q could not be carried out: %s.", s.Name, strings.TrimSuffix(s.Error, ".")))
		case s.Status == StatusFailed:
			lines = append(lines, fmt.Sprintf("%q: %s.", s.Name, strings.TrimSuffix(s.Error, ".")))
		}
	}
	lines = append(lines, slowFixes(r, ims)...)
	lines = append(lines, componentFixes(r)...)
	for _, a := range r.Alerts {
		if a.FiredAt == nil {
			lines = append(lines, fmt.Sprintf("Alert %s stayed silent%s: check its rule and that Prometheus scrapes what it needs.", a.Name, afterStep(a.Step)))
		}
	}
	if r.DR != nil && r.DR.GoldenPromptMatch != nil && !*r.DR.GoldenPromptMatch {
		lines = append(lines, "The restored model answers the golden prompt differently: check that the backup holds the model that was serving.")
	}
	if len(lines) == 0 {
		return []string{"Nothing from this run: every objective met, every step as expected."}
	}
	return lines
}

// sloFix points a breached objective at where it was lost.
func sloFix(r *Report, s SLOResult, ims []impact) string {
	line := SLOStatement(s) + "."
	switch s.Name {
	case "availability", "error_rate":
		if top := ranked(ims, func(im impact) float64 { return float64(im.failed) }, 3); len(top) > 0 {
			line += " Failed requests by window: " + rankList(top, func(im impact) string { return strconv.FormatInt(im.failed, 10) }) + "."
		}
	case "latency_p95", "latency_p99":
		if top := ranked(ims, func(im impact) float64 { return im.peakP95 }, 2); len(top) > 0 {
			line += " Highest p95 by window: " + rankList(top, func(im impact) string { return humanSeconds(im.peakP95) }) + "."
		}
	case "recovery_time":
		if o, ok := longestOutage(r); ok && o.Cause != "" {
			line += fmt.Sprintf(" The longest outage (%s) came during %q.", humanSeconds(o.DurationSeconds), o.Cause)
		}
	case "rto":
		if r.DR != nil && len(r.DR.Phases) > 0 {
			p := r.DR.Phases[0]
			for _, q := range r.DR.Phases {
				if q.Seconds > p.Seconds {
					p = q
				}
			}
			line += fmt.Sprintf(" Its largest phase is %s (%s).", p.Name, humanSeconds(p.Seconds))
		}
	}
	if s.NotMeasured && strings.HasPrefix(s.Name, "ttft") {
		line += " Measure it with streamed requests: probe mode stream, or stream_every N in mode chat (the default streams every 10th)."
	}
	return line
}

func longestOutage(r *Report) (Outage, bool) {
	var best Outage
	for _, o := range r.Outages {
		if o.DurationSeconds > best.DurationSeconds {
			best = o
		}
	}
	return best, len(r.Outages) > 0
}

// slowFixes: disruptions during which no request failed but p95 stayed
// above the latency objective for a while, although the drill as a whole
// may have met it.
// Where no request failed and the fault left a replica up but silent,
// requests were slowed rather than lost, which points at how long the
// gateway waits on a silent replica before it retries another.
func slowFixes(r *Report, ims []impact) []string {
	target := latencyTarget(r)
	if target == 0 {
		return nil
	}
	var lines []string
	for _, im := range ims {
		if im.aboveSLOSeconds == 0 || im.failed > 0 {
			continue // failures are the availability objective's to point at
		}
		line := fmt.Sprintf("During %s p95 was above the %s objective for about %s (at most %s)", stepLabel(im.step),
			humanSeconds(target), humanSeconds(im.aboveSLOSeconds), humanSeconds(im.peakP95))
		_, kind, _ := strings.Cut(im.step.Kind, ":")
		if unanswering[kind] {
			line += ", while no request failed: requests were slowed, not lost. Look at how long the gateway waits on a replica that stops answering before it retries another (its timeout and cooldown)"
		}
		lines = append(lines, line+".")
	}
	return lines
}

// rankList renders windows as `"step" (fault) value`, comma-separated.
func rankList(ims []impact, value func(impact) string) string {
	parts := make([]string, len(ims))
	for i, im := range ims {
		parts[i] = stepLabel(im.step) + " " + value(im)
	}
	return strings.Join(parts, ", ")
}
