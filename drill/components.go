package drill

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/probe"
	"github.com/aiuptime/aiuptime/slo"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/uptime"
)

// traffic is the probe's synthetic traffic and what consumes it: the
// analyzer (the report), the sliding window (stop conditions, progress,
// awaits) and the traffic log (analyses over intervals by backend).
type traffic struct {
	target   stack.Service
	probe    *probe.Probe
	analyzer *uptime.Analyzer
	window   *uptime.Window
	log      *TrafficLog

	stopProbe context.CancelFunc
	consumed  chan struct{}
	// onEvent also sees every event (the service probes' timelines).
	onEvent  func(uptime.Event)
	once     sync.Once
	analysis *uptime.Analysis
}

// startTraffic resolves the probe's target, checks it answers at all (an
// unreachable stack is a harness error, not an outage) and starts probing.
func startTraffic(ctx context.Context, st stack.Stack, pr plan.Probe, window time.Duration, spec slo.Spec, log *slog.Logger) (*traffic, error) {
	var aopts []uptime.Option
	if spec.Goodput != nil {
		aopts = append(aopts, uptime.WithGoodput(spec.GoodputCriteria()))
	}
	an, err := uptime.NewAnalyzer(aopts...)
	if err != nil {
		return nil, err
	}
	win, err := uptime.NewWindow(window)
	if err != nil {
		return nil, err
	}
	t := &traffic{analyzer: an, window: win, log: NewTrafficLog(DefaultTrafficCap), consumed: make(chan struct{})}
	if t.target, err = probeTarget(ctx, st, pr.Target); err != nil {
		return nil, err
	}
	if err := preflight(ctx, t.target); err != nil {
		return nil, err
	}
	mode, err := probe.ParseMode(pr.Mode)
	if err != nil {
		return nil, fmt.Errorf("probe.mode: %w", err)
	}
	popts := []probe.Option{
		probe.WithMode(mode), probe.WithInterval(pr.Interval.D()), probe.WithTimeout(pr.Timeout.D()),
		probe.WithMaxTokens(pr.MaxTokens), probe.WithModel(st.ModelName()), probe.WithLogger(log),
		probe.WithHealthPath(t.target.HealthPath),
	}
	if key := keyFor(st, t.target); key != "" {
		popts = append(popts, probe.WithAPIKey(key))
	}
	if n := pr.StreamEvery; mode == probe.ModeChat && n != nil && *n > 0 {
		popts = append(popts, probe.WithStreamEvery(*n))
	}
	if t.probe, err = probe.New(t.target.URL, popts...); err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	var probeCtx context.Context
	probeCtx, t.stopProbe = context.WithCancel(context.WithoutCancel(ctx))
	results, err := t.probe.Start(probeCtx)
	if err != nil {
		t.stopProbe()
		return nil, fmt.Errorf("start probe: %w", err)
	}
	go func() {
		defer close(t.consumed)
		for res := range results {
			t.analyzer.Add(res)
			t.window.Add(res)
			t.log.Add(res)
		}
	}()
	return t, nil
}

// Stop stops probing, waits for the last results and returns the
// analysis (idempotent).
func (t *traffic) Stop() *uptime.Analysis {
	t.once.Do(func() {
		t.probe.Stop()
		t.stopProbe()
		<-t.consumed
		t.analysis = t.analyzer.Close()
	})
	return t.analysis
}

// event puts an event on the timeline.
func (t *traffic) event(e uptime.Event) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	t.analyzer.AddEvent(e)
	if t.onEvent != nil {
		t.onEvent(e)
	}
}

// probeTarget resolves the probe's target service: the gateway, or a
// service by name.
func probeTarget(ctx context.Context, st stack.Stack, name string) (stack.Service, error) {
	if name == "" || name == string(stack.RoleGateway) {
		svcs, err := st.Services(ctx)
		if err != nil {
			return stack.Service{}, fmt.Errorf("list services: %w", err)
		}
		for _, s := range svcs {
			if s.Role == stack.RoleGateway {
				return s, nil
			}
		}
		return stack.Service{}, fmt.Errorf("probe.target: the stack has no gateway")
	}
	s, err := st.Service(ctx, name)
	if err != nil {
		return stack.Service{}, fmt.Errorf("probe.target %q: %w", name, err)
	}
	return s, nil
}

// keyFor is the API key for a service (never logged): the model servers'
// own key, or the gateway's.
func keyFor(st stack.Stack, svc stack.Service) string {
	if svc.Role == stack.RoleModel {
		return stack.ModelAPIKey(st)
	}
	return st.APIKey()
}

// DefaultPreflight bounds how long the probe target may take to answer its
// health check before the drill starts.
const DefaultPreflight = 10 * time.Second

// preflight checks that the probe's target answers at all before anything
// is measured or injected.
func preflight(ctx context.Context, s stack.Service) error {
	if s.URL == "" {
		return fmt.Errorf("probe target %s has no URL", s.Name)
	}
	path := s.HealthPath
	if path == "" {
		path = "/"
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultPreflight)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	var last error
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		code, err := getStatus(ctx, hc, s.URL+path)
		if err == nil && code < 500 {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("%s answers %d", path, code)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("stack unreachable: %s at %s: %w", s.Name, s.URL, last)
		case <-t.C:
		}
	}
}

// getStatus GETs url and returns the status code, draining the body.
func getStatus(ctx context.Context, hc *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	drain(resp)
	return resp.StatusCode, nil
}

// abortCause is the cancellation cause of a stop condition.
type abortCause struct{ reason string }

func (a *abortCause) Error() string { return "stop condition: " + a.reason }

// minStopSamples is how many results a stop window needs before it can
// abort a drill, so one early failure cannot.
const minStopSamples = 10

// stopWatch aborts the drill when availability over the stop window falls
// below the plan's stop condition.
type stopWatch struct {
	window  *uptime.Window
	started time.Time
	every   time.Duration
	stop    plan.Stop

	done chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

// Start watches until ctx ends or Stop; a breach cancels with an abortCause.
func (w *stopWatch) Start(ctx context.Context, cancel context.CancelCauseFunc) {
	w.done = make(chan struct{})
	if w.stop.AvailabilityBelow == nil {
		return
	}
	limit := w.stop.AvailabilityBelow.Fraction()
	width := w.stop.Window.D()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		t := time.NewTicker(w.every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-w.done:
				return
			case now := <-t.C:
				if now.Sub(w.started) < width {
					continue
				}
				st := w.window.Stats(now)
				if st.Total >= minStopSamples && st.Availability < limit {
					cancel(&abortCause{reason: fmt.Sprintf("availability %.1f%% over the last %s is below %.1f%%",
						st.Availability*100, width, limit*100)})
					return
				}
			}
		}
	}()
}

// Stop ends the watch (idempotent).
func (w *stopWatch) Stop() {
	w.once.Do(func() { close(w.done) })
	w.wg.Wait()
}
