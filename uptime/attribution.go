package uptime

import (
	"slices"
	"time"
)

// causes reports whether events of kind k can cause an outage.
func causes(k EventKind) bool { return k == FaultInjected || k == ActionStarted }

// eventLabel names an event as an outage's cause: its step, else its kind
// and target.
func eventLabel(e Event) string {
	if e.Step != "" {
		return e.Step
	}
	s := string(e.Kind)
	if e.Target != "" {
		s += " " + e.Target
	}
	return s
}

// phaseKinds maps phase events to phase names.
var phaseKinds = map[EventKind]string{
	Detected:   PhaseDetected,
	FailedOver: PhaseFailedOver,
	EngineUp:   PhaseEngineUp,
	FirstToken: PhaseFirstToken,
	SLONormal:  PhaseSLONormal,
}

// attribute fills causes, phases and recoveries from the events.
func (a *Analysis) attribute(tol time.Duration) {
	causeIdx := make([]int, len(a.Outages))
	for i := range a.Outages {
		o := &a.Outages[i]
		causeIdx[i] = a.attributeCause(o, tol)
		o.addProbePhases()
		// Phases from events: the first of each kind after the outage began
		// (less the tolerance) and before the next outage.
		var limit time.Time
		if i+1 < len(a.Outages) {
			limit = a.Outages[i+1].Start
		}
		o.addEventPhases(a.Events, tol, limit)
		slices.SortStableFunc(o.Phases, func(x, y Phase) int { return x.At.Compare(y.At) })
	}
	a.addRecoveries(causeIdx)
}

// attributeCause sets o's cause: the fault or action nearest to the
// outage's start, among those before it (or at most tol after it: the first
// failed request may have been sent just before the fault landed) that were
// not reverted before it began. It returns the event's index, -1 for none.
func (a *Analysis) attributeCause(o *Outage, tol time.Duration) int {
	idx := -1
	best := time.Duration(-1)
	for j, e := range a.Events {
		if !causes(e.Kind) || e.At.After(o.Start.Add(tol)) {
			continue
		}
		if e.Kind == FaultInjected && reverted(a.Events, e, o.Start) {
			continue
		}
		if d := e.At.Sub(o.Start).Abs(); best < 0 || d < best {
			best, o.Cause, idx = d, eventLabel(e), j
		}
	}
	return idx
}

// addPhase appends a phase at a non-zero time.
func (o *Outage) addPhase(name string, at time.Time, src string) {
	if at.IsZero() {
		return
	}
	o.Phases = append(o.Phases, Phase{Name: name, At: at, Since: at.Sub(o.Start), Source: src})
}

// addProbePhases adds the phases the probe saw.
func (o *Outage) addProbePhases() {
	o.addPhase(PhaseDetected, o.DetectedAt, "probe")
	if !o.Ongoing {
		o.addPhase(PhaseFirstGood, o.End, "probe")
		o.addPhase(PhaseFirstToken, o.FirstTokenAt, "probe")
		o.addPhase(PhaseConfirmed, o.RecoveredAt, "probe")
	}
}

// addEventPhases adds the first phase event of each kind from tol before
// the outage's start until limit (zero: no limit).
func (o *Outage) addEventPhases(ev []Event, tol time.Duration, limit time.Time) {
	seen := map[string]bool{}
	for _, e := range ev {
		name, ok := phaseKinds[e.Kind]
		if !ok || seen[name] || e.At.Before(o.Start.Add(-tol)) || (!limit.IsZero() && !e.At.Before(limit)) {
			continue
		}
		seen[name] = true
		o.addPhase(name, e.At, "event")
	}
}

// addRecoveries adds a Recovery per fault or action: the outage this event
// caused (the one attributed to it), else an outage already running when it
// happened.
func (a *Analysis) addRecoveries(causeIdx []int) {
	for j, e := range a.Events {
		if !causes(e.Kind) {
			continue
		}
		rec := Recovery{Event: e, Outage: -1}
		for i, o := range a.Outages {
			if causeIdx[i] == j || (causeIdx[i] < j && o.Start.Before(e.At) && o.End.After(e.At)) {
				rec.Outage = i
				rec.Time = max(o.End.Sub(e.At), 0)
				break
			}
		}
		a.Recoveries = append(a.Recoveries, rec)
	}
}

// reverted reports whether fault e was reverted before t.
func reverted(ev []Event, e Event, t time.Time) bool {
	for _, f := range ev {
		if f.Kind == FaultReverted && f.At.After(e.At) && f.At.Before(t) &&
			(f.Step == e.Step && f.Target == e.Target) {
			return true
		}
	}
	return false
}

// RecoveryAfter returns the time from t until the first outage ongoing at
// t, or starting in [t, until), ended; false when there is none (until zero:
// no limit).
func (a *Analysis) RecoveryAfter(t, until time.Time) (time.Duration, bool) {
	for _, o := range a.Outages {
		if (o.Start.Before(t) && o.End.After(t)) || (!o.Start.Before(t) && (until.IsZero() || o.Start.Before(until))) {
			return max(o.End.Sub(t), 0), true
		}
	}
	return 0, false
}
