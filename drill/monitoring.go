package drill

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/monitor"
	"github.com/aiuptime/aiuptime/monitor/rules"
	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/uptime"
)

// DefaultWindowScale shrinks the 30-day burn-rate windows for drills
// (720: one hour becomes five seconds).
const DefaultWindowScale = 720

// monitoring is a Prometheus (and optional Alertmanager) beside the stack
// for the drill's alert checks and Prometheus's view of the SLOs.
type monitoring struct {
	prom  *monitor.Prometheus
	am    *monitor.Alertmanager
	watch *monitor.AlertWatch
	spec  rules.Spec
	notes []string
	// latencyDone is closed when the latency rules were set (or gave up);
	// stopLatency makes it give up.
	latencyDone chan struct{}
	stopLatency context.CancelFunc
	started     time.Time
}

// rulesSpec maps the plan's objectives and monitoring block onto the rule
// generator's input.
func rulesSpec(p *plan.Plan) rules.Spec {
	m := p.Monitoring
	spec := rules.Spec{Name: p.Name, SLO: p.SLO, Scale: DefaultWindowScale}
	if m == nil {
		return spec
	}
	switch {
	case m.WindowScale > 1:
		spec.Scale = m.WindowScale
	case m.WindowScale > 0:
		spec.Scale = 1 / m.WindowScale // a multiplier such as 0.0005
	}
	spec.ScrapeInterval = m.ScrapeInterval.D()
	if t := m.Thresholds; t != nil {
		spec.Thresholds.LatencyP95 = t.LatencyP95.D()
		if t.ErrorRate != nil {
			spec.Thresholds.ErrorRate = t.ErrorRate.Fraction()
		}
		if t.Availability != nil {
			spec.Thresholds.Availability = t.Availability.Fraction()
		}
	}
	return spec
}

// startMonitoring starts Prometheus scraping the stack, with the plan's
// rules (latency rules follow once the gateway exposes its histogram).
func startMonitoring(ctx context.Context, p *plan.Plan, st stack.Stack, started time.Time, log *slog.Logger) (*monitoring, error) {
	m := &monitoring{spec: rulesSpec(p), latencyDone: make(chan struct{}), started: started}
	svcs, err := st.Services(ctx)
	if err != nil {
		return nil, fmt.Errorf("monitoring: %w", err)
	}
	targets, err := monitor.TargetsFromServices(svcs)
	if err != nil {
		return nil, fmt.Errorf("monitoring: %w", err)
	}
	gen, err := rules.GenerateWithOpenSLO(m.spec)
	if err != nil {
		return nil, fmt.Errorf("monitoring rules: %w", err)
	}
	m.notes = append(m.notes, gen.Notes...)
	opts := []monitor.Option{monitor.WithLogger(log), monitor.WithRules(gen.File)}
	if si := p.Monitoring.ScrapeInterval.D(); si > 0 {
		opts = append(opts, monitor.WithScrapeInterval(si))
	}
	if p.Monitoring.Alertmanager {
		am, err := monitor.StartAlertmanager(ctx, monitor.WithLogger(log))
		m.am = am
		if err != nil {
			m.close()
			return nil, fmt.Errorf("alertmanager: %w", err)
		}
		opts = append(opts, monitor.WithAlertmanagerURL(am.URL()))
	}
	prom, err := monitor.StartPrometheus(ctx, targets, opts...)
	m.prom = prom
	if err != nil {
		m.close()
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	if err := prom.AwaitTargetsUp(ctx); err != nil {
		m.close()
		return nil, fmt.Errorf("prometheus targets: %w", err)
	}
	m.watch = prom.WatchAlerts(context.WithoutCancel(ctx), started)
	log.Info("prometheus up", "url", prom.URL(), "targets", len(targets), "scale", m.spec.Scale)
	monCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	m.stopLatency = stop
	go m.addLatencyRules(monCtx, log)
	return m, nil
}

// addLatencyRules waits for the gateway's latency histogram to be scraped,
// picks the SLO bucket from the exposed bounds and reloads the rules.
func (m *monitoring) addLatencyRules(ctx context.Context, log *slog.Logger) {
	defer close(m.latencyDone)
	_, threshold, ok := m.spec.SLO.LatencyObjective()
	if !ok {
		return
	}
	metric := rules.DefaultMetrics.Latency
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		bounds, err := m.prom.HistogramBuckets(ctx, metric)
		if err == nil && len(bounds) > 0 {
			b, err := rules.PickBucket(bounds, threshold)
			if err != nil {
				m.notes = append(m.notes, "latency SLO rules omitted: "+err.Error())
				return
			}
			spec := m.spec
			spec.LatencyBucket = b
			gen, err := rules.GenerateWithOpenSLO(spec)
			if err == nil {
				err = m.prom.SetRules(ctx, gen.File)
			}
			if err != nil {
				m.notes = append(m.notes, "latency SLO rules omitted: "+err.Error())
				return
			}
			kept := m.notes[:0]
			for _, n := range m.notes {
				if !strings.Contains(n, "latency budget burn alerts omitted") {
					kept = append(kept, n)
				}
			}
			m.notes = append(kept, gen.Notes...)
			log.Info("latency SLO rules set", "bucket_le", b)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// await blocks on an alert state; a timeout is a failed step, not an error.
func (m *monitoring) await(ctx context.Context, a *plan.Await, within time.Duration) (ok bool, detail string, err error) {
	var ev monitor.AlertEvent
	switch a.Kind {
	case plan.AwaitAlertFiring:
		ev, err = m.prom.AwaitFiring(ctx, a.Alert, within)
	case plan.AwaitAlertResolved:
		ev, err = m.prom.AwaitResolved(ctx, a.Alert, within)
	case plan.AwaitCondition:
		return m.awaitCondition(ctx, a.Query, within)
	default:
		return false, "", fmt.Errorf("await %s: not a monitoring await", a.Kind)
	}
	if errors.Is(err, monitor.ErrTimeout) {
		return false, err.Error(), nil
	}
	if err != nil {
		return false, "", err
	}
	return true, fmt.Sprintf("%s %s at %s", ev.Name, ev.State, ev.ObservedAt.Format(time.RFC3339Nano)), nil
}

// awaitCondition polls a PromQL expression until it returns a non-empty,
// non-zero result.
func (m *monitoring) awaitCondition(ctx context.Context, q string, within time.Duration) (bool, string, error) {
	deadline := time.Now().Add(within)
	t := time.NewTicker(DefaultAwaitPoll * 5)
	defer t.Stop()
	last := "no result"
	for {
		v, _, err := m.prom.API().Query(ctx, q, time.Now())
		if err != nil {
			return false, "", fmt.Errorf("condition %q: %w", q, err)
		}
		if vec, ok := v.(model.Vector); ok && len(vec) > 0 {
			truthy := false
			for _, s := range vec {
				if s.Value != 0 && !math.IsNaN(float64(s.Value)) {
					truthy = true
				}
			}
			if truthy {
				return true, fmt.Sprintf("%q holds", q), nil
			}
			last = vec.String()
		}
		if time.Now().After(deadline) {
			return false, fmt.Sprintf("%q did not hold within %s (last: %s)", q, within, last), nil
		}
		select {
		case <-ctx.Done():
			return false, "", context.Cause(ctx)
		case <-t.C:
		}
	}
}

// finish stops watching and returns the report's alerts (with the delay
// from the fault that preceded each), Prometheus's SLO view, and notes.
func (m *monitoring) finish(ctx context.Context, from, to time.Time, events []uptime.Event, spec *plan.Plan) ([]reports.Alert, []reports.SLOResult, []string) {
	defer m.close()
	if m.stopLatency != nil {
		m.stopLatency()
		<-m.latencyDone
		m.stopLatency = nil
	}
	recs := m.watch.Stop()
	var notified map[string]bool
	if m.am != nil {
		notified = map[string]bool{}
		for _, n := range m.am.Notifications() {
			notified[n.Alertname] = true
		}
	}
	var alerts []reports.Alert
	for _, rec := range recs {
		a := reports.Alert{Name: rec.Name}
		if !rec.FiredAt.IsZero() {
			fired := rec.FiredAt
			a.FiredAt = &fired
			if e, ok := lastFaultBefore(events, fired); ok {
				d := fired.Sub(e.At).Seconds()
				a.DelaySeconds, a.Step = &d, e.Step
			}
		}
		if !rec.ResolvedAt.IsZero() {
			res := rec.ResolvedAt
			a.ResolvedAt = &res
		}
		a.Notified = notified[rec.Name]
		alerts = append(alerts, a)
	}
	sort.SliceStable(alerts, func(i, j int) bool { return timeOf(alerts[i].FiredAt).Before(timeOf(alerts[j].FiredAt)) })

	var view []reports.SLOResult
	pv, err := m.prom.QuerySLO(ctx, from, to, rules.Metrics{})
	if err != nil {
		m.notes = append(m.notes, "Prometheus SLO view unavailable: "+err.Error())
		return alerts, nil, m.notes
	}
	if p := spec.SLO.Availability; p != nil && !math.IsNaN(pv.Availability) {
		view = append(view, reports.SLOResult{Name: "availability", Target: p.Fraction(), Actual: pv.Availability, Op: ">=", Unit: "ratio", Compliant: pv.Availability >= p.Fraction()})
	}
	if p := spec.SLO.ErrorRate; p != nil && !math.IsNaN(pv.ErrorRate) {
		view = append(view, reports.SLOResult{Name: "error_rate", Target: p.Fraction(), Actual: pv.ErrorRate, Op: "<=", Unit: "ratio", Compliant: pv.ErrorRate <= p.Fraction()})
	}
	if d := spec.SLO.LatencyP95.D(); d > 0 && pv.P95OK {
		view = append(view, reports.SLOResult{Name: "latency_p95", Target: d.Seconds(), Actual: pv.P95.Seconds(), Op: "<=", Unit: "seconds", Compliant: pv.P95 <= d})
	}
	return alerts, view, m.notes
}

func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// lastFaultBefore is the latest fault injected (or action started) at or
// before t.
func lastFaultBefore(events []uptime.Event, t time.Time) (uptime.Event, bool) {
	var best uptime.Event
	found := false
	for _, e := range events {
		if (e.Kind == uptime.FaultInjected || e.Kind == uptime.ActionStarted) && !e.At.After(t) {
			if !found || e.At.After(best.At) {
				best, found = e, true
			}
		}
	}
	return best, found
}

func (m *monitoring) close() {
	if m.stopLatency != nil {
		m.stopLatency()
		<-m.latencyDone
		m.stopLatency = nil
	}
	if m.prom != nil {
		_ = m.prom.Close()
	}
	if m.am != nil {
		_ = m.am.Close()
	}
}

// checkExpectedAlerts fails a step whose expect.alert did not fire after
// the step began.
func checkExpectedAlerts(rep *reports.Report, p *plan.Plan) {
	for i := range rep.Steps {
		st := &rep.Steps[i]
		step, ok := p.Step(st.Name)
		if !ok || step.Expect == nil || step.Expect.Alert == "" || st.Status != reports.StatusPassed {
			continue
		}
		fired := false
		for _, a := range rep.Alerts {
			if a.Name == step.Expect.Alert && a.FiredAt != nil && !a.FiredAt.Before(st.StartedAt) {
				fired = true
			}
		}
		if !fired {
			st.Status, st.Error = reports.StatusFailed, "expected alert "+step.Expect.Alert+" did not fire"
		}
	}
}
