package recovery

import (
	"slices"
	"time"

	"github.com/aiuptime/aiuptime/uptime"
)

// Phase names, in the order a recovery usually passes them.
const (
	// PhaseDetected is the first failed check (when its failure was known).
	PhaseDetected = "detected"
	// PhaseProcessBack is when the service's processes ran again (a restart,
	// an engine respawn).
	PhaseProcessBack = "process-back"
	// PhaseModelLoaded is when the server stopped reporting that it loads
	// the model.
	PhaseModelLoaded = "model-loaded"
	// PhaseReady is when the health endpoint answered 200 again for good.
	PhaseReady = "ready"
	// PhaseFirstToken is when the first token of a completion that kept
	// succeeding arrived.
	PhaseFirstToken = "first-token"
	// PhaseInRotation is when the gateway had it back in rotation
	// (litellm_deployment_state 0).
	PhaseInRotation = "in-rotation"
)

// PhaseNames lists the phases in order.
var PhaseNames = []string{PhaseDetected, PhaseProcessBack, PhaseModelLoaded, PhaseReady, PhaseFirstToken, PhaseInRotation}

// Phase statuses.
const (
	// Measured: At holds when the phase was reached.
	Measured = "measured"
	// NotMeasured: the phase could not be observed (Note says why).
	NotMeasured = "not-measured"
	// NotApplicable: the service never left that state (no process was
	// lost, the gateway kept it in rotation).
	NotApplicable = "not-applicable"
)

// Phase is one point of a component's recovery.
type Phase struct {
	Name   string
	At     time.Time // zero unless Status is Measured
	Status string
	Note   string
}

// Outage is a span during which the service failed its direct checks (its
// health, its completions or both) under the confirmation rule.
type Outage struct {
	Start, End time.Time
	// Ongoing: not recovered when the watch ended (End is then the end of
	// the watch).
	Ongoing bool
	Phases  []Phase
}

// Duration is End - Start.
func (o Outage) Duration() time.Duration { return o.End.Sub(o.Start) }

// Checks counts the direct checks of a watch.
type Checks struct {
	Health, HealthFailed           int64
	Completions, CompletionsFailed int64
}

// Result is what a watch saw.
type Result struct {
	Service string
	// From and To bound the watch.
	From, To time.Time
	Rule     Rule
	Interval time.Duration
	Outages  []Outage
	Checks   Checks
}

// Phase returns the outage's phase by name.
func (o Outage) Phase(name string) (Phase, bool) {
	for _, p := range o.Phases {
		if p.Name == name {
			return p, true
		}
	}
	return Phase{}, false
}

// build turns the checks into the result: the outages of both checks,
// merged, with their phases.
func (w *Watch) build() *Result {
	ha, ca := w.health.Stop(), w.comp.Stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	res := &Result{Service: w.t.Name, From: w.from, To: w.to, Rule: w.o.rule, Interval: w.o.interval,
		Checks: Checks{Health: ha.Total, HealthFailed: ha.Failed, Completions: ca.Total, CompletionsFailed: ca.Failed}}
	spans := merge(append(spans(ha.Outages), spans(ca.Outages)...), w.o.interval)
	ev := evidence{h: w.hrec, c: w.crec, procs: w.procs, rots: w.rots, poll: w.o.poll,
		procsNote: w.baseNote, rotation: w.t.Rotation != nil, need: w.o.rule.Successes}
	ev.sort()
	for i, s := range spans {
		limit := time.Time{}
		if i+1 < len(spans) {
			limit = spans[i+1].Start
		}
		o := Outage{Start: s.Start, End: s.End, Ongoing: s.Ongoing}
		o.Phases = ev.phases(o, limit)
		res.Outages = append(res.Outages, o)
	}
	return res
}

// spans are the analyzer's outages as bare intervals.
func spans(os []uptime.Outage) []Outage {
	out := make([]Outage, len(os))
	for i, o := range os {
		out[i] = Outage{Start: o.Start, End: o.End, Ongoing: o.Ongoing}
	}
	return out
}

// merge joins overlapping outages (and those less than gap apart) of the
// two checks into the component's outages, in start order.
func merge(os []Outage, gap time.Duration) []Outage {
	slices.SortFunc(os, func(a, b Outage) int { return a.Start.Compare(b.Start) })
	var out []Outage
	for _, o := range os {
		if n := len(out); n > 0 && !o.Start.After(out[n-1].End.Add(gap)) {
			last := &out[n-1]
			if o.End.After(last.End) {
				last.End = o.End
			}
			last.Ongoing = last.Ongoing || o.Ongoing
			continue
		}
		out = append(out, o)
	}
	return out
}
