package drill

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/probe"
	"github.com/aiuptime/aiuptime/recovery"
	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/uptime"
)

// DefaultServiceProbeLimit bounds the service probes of a plan without
// max_duration: they stop by themselves after it.
const DefaultServiceProbeLimit = 2 * time.Hour

// serviceProbeConcurrency caps each service probe's requests in flight.
const serviceProbeConcurrency = 4

// serviceProbes probe every model server and the gateway directly, side by
// side with the users' probe, each into its own uptime analysis under the
// plan's confirmation rule: per-service availability, outages and p95.
type serviceProbes struct {
	mode     string
	interval time.Duration
	probes   []*serviceProbe

	once sync.Once
}

type serviceProbe struct {
	svc      stack.Service
	feed     *recovery.Feed
	analysis *uptime.Analysis
}

// startServiceProbes starts one probe per model server and gateway (at its
// host-reachable URL) unless the plan turned them off; nil then.
func startServiceProbes(ctx context.Context, st stack.Stack, p *plan.Plan, log *slog.Logger) (*serviceProbes, error) {
	cfg := p.ServiceProbesDefaults()
	if cfg.Mode == plan.ServiceProbesOff {
		return nil, nil
	}
	mode, err := probe.ParseMode(cfg.Mode)
	if err != nil {
		return nil, fmt.Errorf("service_probes.mode: %w", err)
	}
	rc := p.RecoveryDefaults()
	rule := recovery.Rule{Failures: rc.Failures, Successes: rc.Successes}
	limit := DefaultServiceProbeLimit
	if _, stop := p.Defaults(); stop.MaxDuration > 0 {
		limit = stop.MaxDuration.D()
	}
	svcs, err := st.Services(ctx)
	if err != nil {
		return nil, fmt.Errorf("service probes: list services: %w", err)
	}
	sp := &serviceProbes{mode: string(mode), interval: cfg.Interval.D()}
	for _, svc := range svcs {
		if (svc.Role != stack.RoleModel && svc.Role != stack.RoleGateway) || svc.URL == "" || svc.HealthPath == "" {
			continue
		}
		model := svc.ModelName
		if model == "" || svc.Role == stack.RoleGateway {
			model = st.ModelName()
		}
		f, err := recovery.StartFeed(context.WithoutCancel(ctx), svc.URL, rule, nil, probe.WithMode(mode),
			probe.WithInterval(sp.interval), probe.WithTimeout(cfg.Timeout.D()), probe.WithHealthPath(svc.HealthPath),
			probe.WithModel(model), probe.WithAPIKey(keyFor(st, svc)), probe.WithMaxTokens(1),
			probe.WithConcurrency(serviceProbeConcurrency), probe.WithDuration(limit), probe.WithLogger(log),
			probe.WithResolver(movingURL(st, svc.Name), 0))
		if err != nil {
			sp.stop()
			return nil, fmt.Errorf("service probe of %s: %w", svc.Name, err)
		}
		sp.probes = append(sp.probes, &serviceProbe{svc: svc, feed: f})
	}
	return sp, nil
}

// event puts a drill event on every service's timeline, so that its
// outages name their cause.
func (s *serviceProbes) event(e uptime.Event) {
	if s == nil {
		return
	}
	for _, p := range s.probes {
		p.feed.AddEvent(e)
	}
}

// stop stops every probe and keeps the analyses (idempotent).
func (s *serviceProbes) stop() {
	if s == nil {
		return
	}
	s.once.Do(func() {
		var wg sync.WaitGroup
		for _, p := range s.probes {
			wg.Add(1)
			go func() { defer wg.Done(); p.analysis = p.feed.Stop() }()
		}
		wg.Wait()
	})
}

// report is each service's availability, outages and p95.
func (s *serviceProbes) report() []reports.ServiceAvailability {
	if s == nil {
		return nil
	}
	s.stop()
	out := make([]reports.ServiceAvailability, 0, len(s.probes))
	for _, p := range s.probes {
		a := p.analysis
		sa := reports.ServiceAvailability{Name: p.svc.Name, Role: string(p.svc.Role), Mode: s.mode,
			IntervalSeconds: secs(s.interval), Requests: a.Total, Failed: a.Failed, Outages: []reports.Outage{}}
		if a.Total > 0 {
			av, p95 := a.Availability.RequestBased, secs(a.Latency.P95)
			sa.Availability, sa.P95Seconds = &av, &p95
		}
		for _, o := range a.Outages {
			sa.Outages = append(sa.Outages, reports.Outage{Start: o.Start, End: o.End, DurationSeconds: secs(o.Duration), Cause: o.Cause})
		}
		if len(a.Outages) > 0 {
			mttr := secs(a.MTTR)
			sa.MTTRSeconds = &mttr
		}
		out = append(out, sa)
	}
	return out
}

// movingURL follows the service's address where it moves (a Kubernetes
// pod replaced, a container restarted on a port Docker picked anew:
// stack.AddressesMove); nil elsewhere, where the probe keeps the address
// it started with.
func movingURL(st stack.Stack, name string) probe.Resolver {
	if !stack.AddressesMove(st) {
		return nil
	}
	return func(ctx context.Context) (string, error) {
		svc, err := st.Service(ctx, name)
		return svc.URL, err
	}
}
