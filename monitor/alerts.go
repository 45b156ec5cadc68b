package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Alert states as Prometheus reports them, plus "resolved" for an alert that
// is no longer active.
const (
	StatePending  = "pending"
	StateFiring   = "firing"
	StateResolved = "resolved"
)

// Match narrows an alert by one label, e.g. Match("service", "model-0").
type Match struct{ Label, Value string }

// AlertEvent is one observed alert state.
type AlertEvent struct {
	Name   string
	Labels map[string]string
	// State is StatePending, StateFiring or StateResolved.
	State string
	// ActiveAt is when Prometheus saw the condition first (the alert went
	// pending); zero for StateResolved.
	ActiveAt time.Time
	// ObservedAt is when the harness first saw State (poll resolution).
	ObservedAt time.Time
}

func matches(a v1.Alert, name string, ms []Match) bool {
	if string(a.Labels[model.AlertNameLabel]) != name {
		return false
	}
	for _, m := range ms {
		if string(a.Labels[model.LabelName(m.Label)]) != m.Value {
			return false
		}
	}
	return true
}

func labelMap(ls model.LabelSet) map[string]string {
	m := make(map[string]string, len(ls))
	for k, v := range ls {
		m[string(k)] = string(v)
	}
	return m
}

// Alerts returns the active (pending and firing) alerts.
func (p *Prometheus) Alerts(ctx context.Context) ([]v1.Alert, error) {
	res, err := p.api.Alerts(ctx)
	if err != nil {
		return nil, fmt.Errorf("get alerts: %w", err)
	}
	return res.Alerts, nil
}

// AwaitFiring polls /api/v1/alerts until an alert named name (and matching
// ms) is firing, and returns it. It gives up after within or when ctx ends,
// with an error wrapping ErrTimeout that says the last state seen.
func (p *Prometheus) AwaitFiring(ctx context.Context, name string, within time.Duration, ms ...Match) (AlertEvent, error) {
	var pendingSeen time.Time
	ev, err := p.await(ctx, within, func(as []v1.Alert, now time.Time) (AlertEvent, bool) {
		for _, a := range as {
			if !matches(a, name, ms) {
				continue
			}
			switch a.State {
			case v1.AlertStateFiring:
				return AlertEvent{Name: name, Labels: labelMap(a.Labels), State: StateFiring, ActiveAt: a.ActiveAt, ObservedAt: now}, true
			case v1.AlertStatePending:
				if pendingSeen.IsZero() {
					pendingSeen = now
				}
			}
		}
		return AlertEvent{}, false
	})
	if err != nil {
		last := "never active"
		if !pendingSeen.IsZero() {
			last = "pending since " + pendingSeen.Format(time.RFC3339Nano)
		}
		return ev, fmt.Errorf("alert %s firing within %s (%s): %w", name, within, last, err)
	}
	return ev, nil
}

// AwaitResolved polls until no alert named name (and matching ms) is pending
// or firing, and returns when that was first seen. An alert that is not
// active at the first poll counts as resolved at once.
func (p *Prometheus) AwaitResolved(ctx context.Context, name string, within time.Duration, ms ...Match) (AlertEvent, error) {
	ev, err := p.await(ctx, within, func(as []v1.Alert, now time.Time) (AlertEvent, bool) {
		for _, a := range as {
			if matches(a, name, ms) {
				return AlertEvent{}, false
			}
		}
		return AlertEvent{Name: name, State: StateResolved, ObservedAt: now}, true
	})
	if err != nil {
		return ev, fmt.Errorf("alert %s resolved within %s: %w", name, within, err)
	}
	return ev, nil
}

func (p *Prometheus) await(ctx context.Context, within time.Duration, done func([]v1.Alert, time.Time) (AlertEvent, bool)) (AlertEvent, error) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	tick := time.NewTicker(p.o.poll)
	defer tick.Stop()
	var lastErr error
	for {
		res, err := p.api.Alerts(ctx)
		now := time.Now()
		if err == nil {
			if ev, ok := done(res.Alerts, now); ok {
				return ev, nil
			}
		} else if ctx.Err() == nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return AlertEvent{}, fmt.Errorf("%w (last api error: %v)", ErrTimeout, lastErr)
			}
			return AlertEvent{}, ErrTimeout
		case <-tick.C:
		}
	}
}

// AlertRecord is one alert in the report's alerts[] section.
type AlertRecord struct {
	Name string
	// FiredAt is when the harness saw it firing.
	FiredAt time.Time
	// ResolvedAt is when it was seen resolved; zero if it never resolved.
	ResolvedAt time.Time
	// Delay is FiredAt minus the reference (the fault injection).
	Delay time.Duration
}

// NewAlertRecord builds the record of an alert that fired (and, when
// resolved.ObservedAt is not zero, resolved) after the reference time ref.
func NewAlertRecord(ref time.Time, fired, resolved AlertEvent) AlertRecord {
	return AlertRecord{Name: fired.Name, FiredAt: fired.ObservedAt, ResolvedAt: resolved.ObservedAt,
		Delay: fired.ObservedAt.Sub(ref)}
}

// MarshalJSON writes report.json's shape:
// {name, fired_at, resolved_at (null if unresolved), delay_seconds}.
func (r AlertRecord) MarshalJSON() ([]byte, error) {
	var resolved *string
	if !r.ResolvedAt.IsZero() {
		s := r.ResolvedAt.UTC().Format(time.RFC3339Nano)
		resolved = &s
	}
	return json.Marshal(struct {
		Name         string  `json:"name"`
		FiredAt      string  `json:"fired_at"`
		ResolvedAt   *string `json:"resolved_at"`
		DelaySeconds float64 `json:"delay_seconds"`
	}{r.Name, r.FiredAt.UTC().Format(time.RFC3339Nano), resolved, r.Delay.Seconds()})
}

// AlertWatch records every alert that fires while it runs, for a drill's
// report. Start it with (*Prometheus).WatchAlerts.
type AlertWatch struct {
	cancel context.CancelFunc
	done   chan struct{}
	open   map[model.Fingerprint]*AlertRecord
	closed []AlertRecord
}

// WatchAlerts polls the active alerts until Stop, noting when each alert
// (per label set) was first seen firing and then seen gone; an alert that
// fires again opens a new record. ref is the reference of the records' Delay
// (usually the drill's first fault).
func (p *Prometheus) WatchAlerts(ctx context.Context, ref time.Time) *AlertWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &AlertWatch{cancel: cancel, done: make(chan struct{}), open: map[model.Fingerprint]*AlertRecord{}}
	poll := func(ctx context.Context) {
		res, err := p.api.Alerts(ctx)
		if err != nil {
			return
		}
		now := time.Now()
		active := map[model.Fingerprint]bool{}
		for _, a := range res.Alerts {
			if a.State != v1.AlertStateFiring {
				continue
			}
			fp := a.Labels.Fingerprint()
			active[fp] = true
			if _, ok := w.open[fp]; !ok {
				w.open[fp] = &AlertRecord{Name: string(a.Labels[model.AlertNameLabel]), FiredAt: now, Delay: now.Sub(ref)}
			}
		}
		for fp, r := range w.open {
			if !active[fp] {
				r.ResolvedAt = now
				w.closed = append(w.closed, *r)
				delete(w.open, fp)
			}
		}
	}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(p.o.poll)
		defer tick.Stop()
		for {
			poll(ctx)
			select {
			case <-ctx.Done():
				// One last look, so that Stop sees the state at the time it was called.
				final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
				poll(final)
				cancel()
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// Stop ends the watch and returns the records in firing order; alerts still
// firing have a zero ResolvedAt. Call it once.
func (w *AlertWatch) Stop() []AlertRecord {
	w.cancel()
	<-w.done
	out := append([]AlertRecord(nil), w.closed...)
	for _, r := range w.open {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FiredAt.Before(out[j].FiredAt) })
	return out
}
