package drill

import (
	"sort"
	"time"

	"github.com/aiuptime/aiuptime/recovery"
	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/uptime"
)

// componentSpan is one component outage of one watch, with the step that
// began it.
type componentSpan struct {
	o     recovery.Outage
	svc   string
	cause int // index into marks, -1 when none
}

// report turns the watches' results into the report's component recovery:
// the distinct component outages (MTTR and MTBF over them) and, per step
// and service it hurt, the outage with its phases from the step's time and
// what users saw meanwhile. users is the users' analysis, tl their traffic
// and started the drill's start (the baseline p95 is taken before the first
// step that hurt a service).
func (c *componentWatch) report(users *uptime.Analysis, tl *TrafficLog, started time.Time) *reports.ComponentRecovery {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.marks) == 0 {
		return nil
	}
	cr := &reports.ComponentRecovery{
		Rule:            reports.ConfirmationRule{Failures: c.rule.Failures, Successes: c.rule.Successes},
		IntervalSeconds: secs(c.cfg.Interval.D()),
		Outages:         []reports.ComponentOutage{},
		Steps:           []reports.StepRecovery{},
	}
	spans := c.spans()
	baseline := optSecs(tl.Stats(started, c.marks[0].at, "", true))
	for i, m := range c.marks {
		cr.Steps = append(cr.Steps, c.stepRecovery(i, m, spans, users, tl, baseline))
	}
	var down time.Duration
	var intervals [][2]time.Time
	for _, s := range spans {
		o := reports.ComponentOutage{Service: s.svc, Start: s.o.Start, End: s.o.End, DurationSeconds: secs(s.o.Duration()), Ongoing: s.o.Ongoing}
		if s.cause >= 0 {
			o.Cause = c.marks[s.cause].step
		}
		cr.Outages = append(cr.Outages, o)
		down += s.o.Duration()
		intervals = append(intervals, [2]time.Time{s.o.Start, s.o.End})
	}
	if n := len(spans); n > 0 {
		cr.DowntimeSeconds = secs(down)
		mttr := secs(down / time.Duration(n))
		cr.MTTRSeconds = &mttr
		span := users.Span
		if span <= 0 {
			span = time.Since(started)
		}
		mtbf := secs(max(span-union(intervals), 0) / time.Duration(n))
		cr.MTBFSeconds = &mtbf
	}
	return cr
}

// spans lists every watch's outages in start order, each with the step
// that began it: the latest mark on the same watch at or before its start
// (a check interval early still counts).
func (c *componentWatch) spans() []componentSpan {
	var out []componentSpan
	for w, res := range c.results {
		for _, o := range res.Outages {
			s := componentSpan{o: o, svc: res.Service, cause: -1}
			for i, m := range c.marks {
				if m.watch == w && !m.at.After(o.Start.Add(res.Interval)) {
					s.cause = i
				}
			}
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].o.Start.Before(out[j].o.Start) })
	return out
}

// stepRecovery is mark i's entry: the outage it began, else the one under
// way when it came.
func (c *componentWatch) stepRecovery(i int, m componentMark, spans []componentSpan, users *uptime.Analysis, tl *TrafficLog, baseline *float64) reports.StepRecovery {
	sr := reports.StepRecovery{Step: m.step, Kind: m.kind, Service: m.service, At: m.at, Note: m.note}
	if m.watch == nil {
		return sr
	}
	var hit *componentSpan
	for j := range spans {
		s := &spans[j]
		if s.cause == i {
			hit = s
			break
		}
		if hit == nil && s.svc == m.service && s.o.Start.Before(m.at) && (s.o.Ongoing || s.o.End.After(m.at)) {
			hit = s
			if s.cause >= 0 {
				sr.Since = c.marks[s.cause].step
			}
		}
	}
	if hit == nil {
		sr.Note = "no component outage: the direct checks kept succeeding"
		return sr
	}
	o := hit.o
	sr.Outage, sr.Ongoing = true, o.Ongoing
	start, end := o.Start, o.End
	sr.Start, sr.End = &start, &end
	down, rec := secs(o.Duration()), secs(max(o.End.Sub(m.at), 0))
	sr.DowntimeSeconds, sr.RecoverySeconds = &down, &rec
	for _, p := range o.Phases {
		sr.Phases = append(sr.Phases, stepPhase(p, m.at, sr.Since))
	}
	sr.Users = userImpact(users, tl, o.Start, o.End, baseline)
	return sr
}

// stepPhase puts a phase on the step's clock; a phase reached before a
// step that came during the outage belongs to the step that began it.
func stepPhase(p recovery.Phase, at time.Time, since string) reports.ComponentPhase {
	cp := reports.ComponentPhase{Name: p.Name, Status: p.Status, Note: p.Note}
	if p.Status != recovery.Measured {
		return cp
	}
	if p.At.Before(at) && since != "" {
		cp.Status, cp.Note = reports.PhaseNotApplicable, "reached before this step, during "+since
		return cp
	}
	t, s := p.At, secs(p.At.Sub(at))
	cp.At, cp.Seconds = &t, &s
	return cp
}

// userImpact is what the users' probe saw from start to end.
func userImpact(users *uptime.Analysis, tl *TrafficLog, start, end time.Time, baseline *float64) *reports.UserImpact {
	st := tl.Stats(start, end, "", true)
	u := &reports.UserImpact{Requests: int64(st.Total), Failed: int64(st.Failed), P95Seconds: optSecs(st), BaselineP95Seconds: baseline}
	if u.P95Seconds != nil && baseline != nil {
		extra := max(*u.P95Seconds-*baseline, 0)
		u.ExtraP95Seconds = &extra
	}
	var out time.Duration
	for _, o := range users.Outages {
		if s, e := later(o.Start, start), earlier(o.End, end); e.After(s) {
			out += e.Sub(s)
		}
	}
	u.OutageSeconds = secs(out)
	return u
}

// optSecs is the p95 of st in seconds, nil without requests.
func optSecs(st TrafficStats) *float64 {
	if st.Total == 0 {
		return nil
	}
	v := secs(st.P95)
	return &v
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// union is the length of the union of the intervals.
func union(iv [][2]time.Time) time.Duration {
	sort.Slice(iv, func(i, j int) bool { return iv[i][0].Before(iv[j][0]) })
	var total time.Duration
	var cur [2]time.Time
	for i, x := range iv {
		switch {
		case i == 0:
			cur = x
		case !x[0].After(cur[1]):
			cur[1] = later(cur[1], x[1])
		default:
			total += cur[1].Sub(cur[0])
			cur = x
		}
	}
	if len(iv) > 0 {
		total += cur[1].Sub(cur[0])
	}
	return total
}
