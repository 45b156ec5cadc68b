package recovery

import (
	"fmt"
	"slices"
	"time"
)

// evidence is everything a watch saw, from which the phases of each outage
// are read.
type evidence struct {
	h, c      []check // health checks and completions, by send time
	procs     []procPoll
	rots      []rotPoll
	poll      time.Duration
	procsNote string // why processes were not observable ("" when they were)
	rotation  bool   // a gateway view was asked for
	need      int    // good checks in a row that confirm a recovery
}

func (e *evidence) sort() {
	bySent := func(a, b check) int { return a.sent.Compare(b.sent) }
	slices.SortStableFunc(e.h, bySent)
	slices.SortStableFunc(e.c, bySent)
}

// phases reads o's phases; limit is the next outage's start (zero: none).
func (e *evidence) phases(o Outage, limit time.Time) []Phase {
	ps := []Phase{
		e.detected(o),
		e.processBack(o, limit),
		e.modelLoaded(o, limit),
		e.recovered(PhaseReady, e.h, o, limit, func(c check) time.Time { return c.end },
			"/health answered 200 throughout (it cannot see a hung engine)"),
		e.recovered(PhaseFirstToken, e.c, o, limit, func(c check) time.Time {
			if c.firstToken.IsZero() {
				return c.end
			}
			return c.firstToken
		}, "completions kept succeeding"),
		e.inRotation(o, limit),
	}
	boundProcessBack(ps)
	return ps
}

// boundProcessBack moves "process back" to the service's first answer when
// that came earlier. A process listing is stamped when it returned (docker
// top or an exec takes tens to hundreds of milliseconds, and it runs once
// per poll), while an answer from /health or a completion proves the
// process serving it was back when it arrived: without this bound a report
// could say a server was ready before its process was back.
func boundProcessBack(ps []Phase) {
	back := &ps[1]
	if back.Status != Measured {
		return
	}
	for _, p := range ps[3:5] { // ready, first token
		if p.Status == Measured && p.At.Before(back.At) {
			back.At = p.At
		}
	}
}

func measured(name string, at time.Time) Phase { return Phase{Name: name, At: at, Status: Measured} }

func notMeasured(name, why string) Phase { return Phase{Name: name, Status: NotMeasured, Note: why} }

func notApplicable(name, why string) Phase {
	return Phase{Name: name, Status: NotApplicable, Note: why}
}

// before reports whether t is before limit (a zero limit is no limit).
func before(t, limit time.Time) bool { return limit.IsZero() || t.Before(limit) }

// detected is when the first failed check of the outage was known.
func (e *evidence) detected(o Outage) Phase {
	var first time.Time
	for _, rs := range [][]check{e.h, e.c} {
		for _, c := range rs {
			if !c.ok && !c.end.Before(o.Start) && c.sent.Before(o.End) && (first.IsZero() || c.end.Before(first)) {
				first = c.end
			}
		}
	}
	if first.IsZero() {
		return notMeasured(PhaseDetected, "no failed check within the outage")
	}
	return measured(PhaseDetected, first)
}

// processBack is the first complete reading at or after the last one (up
// to the outage's end) that found a known process gone or stopped: an
// engine that respawns and dies again while the load keeps failing is back
// only with the respawn that lasted.
func (e *evidence) processBack(o Outage, limit time.Time) Phase {
	if e.procsNote != "" {
		return notMeasured(PhaseProcessBack, e.procsNote)
	}
	from, until := o.Start.Add(-2*e.poll), o.End
	if o.Ongoing {
		until = time.Time{}
	}
	lost := -1
	for i, p := range e.procs {
		if p.lost && !p.at.Before(from) && before(p.at, limit) && (until.IsZero() || !p.at.After(until)) {
			lost = i
		}
	}
	if lost < 0 {
		return notApplicable(PhaseProcessBack, "no process was lost")
	}
	for _, p := range e.procs[lost:] {
		if p.complete && before(p.at, limit) {
			return measured(PhaseProcessBack, p.at)
		}
	}
	return notMeasured(PhaseProcessBack, "the processes were not back when the watch ended")
}

// modelLoaded is the first good health answer after the last one that said
// the model was loading.
func (e *evidence) modelLoaded(o Outage, limit time.Time) Phase {
	last := -1
	for i, c := range e.h {
		if c.loading && !c.sent.Before(o.Start) && before(c.sent, limit) {
			last = i
		}
	}
	if last < 0 {
		return notMeasured(PhaseModelLoaded, "the server did not report loading on its health endpoint (vLLM has no HTTP at all while it loads)")
	}
	for _, c := range e.h[last+1:] {
		if c.ok && before(c.sent, limit) {
			return measured(PhaseModelLoaded, c.end)
		}
	}
	return notMeasured(PhaseModelLoaded, "still loading when the watch ended")
}

// recovered is the first good check after the last failed one of the
// outage, at the time at gives it, once the confirmation rule's run of good
// checks followed it; unaffected says why there is no phase when this check
// never failed.
func (e *evidence) recovered(name string, rs []check, o Outage, limit time.Time, at func(check) time.Time, unaffected string) Phase {
	last := -1
	for i, c := range rs {
		if !c.ok && !c.end.Before(o.Start) && !c.sent.After(o.End) {
			last = i
		}
	}
	if last < 0 {
		return notApplicable(name, unaffected)
	}
	run := 0
	for _, c := range rs[last+1:] {
		if !before(c.sent, limit) || !c.ok {
			break
		}
		if run++; run >= e.need {
			return measured(name, at(rs[last+1]))
		}
	}
	return notMeasured(name, fmt.Sprintf("not confirmed recovered when the watch ended (%d of %d good checks in a row)", run, e.need))
}

// inRotation is the first reading of state 0 after the last one in which
// the gateway had the service out of rotation.
func (e *evidence) inRotation(o Outage, limit time.Time) Phase {
	if !e.rotation {
		return notApplicable(PhaseInRotation, "no gateway routes to it")
	}
	if len(e.rots) == 0 {
		return notMeasured(PhaseInRotation, "the gateway exposes no litellm_deployment_state for it")
	}
	from := o.Start.Add(-2 * e.poll)
	out := -1
	for i, r := range e.rots {
		if !r.at.Before(from) && before(r.at, limit) && r.state != 0 {
			out = i
		}
	}
	if out < 0 {
		return notApplicable(PhaseInRotation, "the gateway never took it out of rotation")
	}
	for _, r := range e.rots[out+1:] {
		if r.state == 0 && before(r.at, limit) {
			return measured(PhaseInRotation, r.at)
		}
	}
	return notMeasured(PhaseInRotation, "not back in rotation when the watch ended")
}
