package rollout

import (
	"context"
	"fmt"
	"time"

	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/stack"
)

// NextGatewaySuffix names the second gateway instance of a gateway update.
const NextGatewaySuffix = "-next"

// GatewayUpdate replaces the gateway with rel (image, args) using two
// instances: a second instance with the new release is started beside the
// first, sharing its config and data volume (SQLite WAL across processes),
// and verified (readiness, a completion through it); then the primary is
// drained and replaced on its own address (SIGTERM: it stops accepting and
// finishes in-flight requests) while the second instance serves, and the
// second instance is removed once the primary answers again.
//
// The trade-off, stated honestly: clients that can use either address (a
// load balancer or DNS with both instances, as in production) see no
// downtime. A client pinned to the primary's single host port, like the
// embedded stack's probe, sees the few hundred milliseconds between the old
// process closing its listener and the new one opening it as connection
// errors; the report counts them (FailedRequests) instead of hiding them.
func (r *Rollouter) GatewayUpdate(ctx context.Context, rel Release) (*reports.Rollout, error) {
	if err := r.checkRelease(ctx, rel); err != nil {
		return nil, err
	}
	gw, err := gateway(ctx, r.st)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	rep := &reports.Rollout{Kind: "gateway-update", Target: gw.Name, To: rel.String()}
	if v := stack.ServiceVersion(ctx, gw); v.Version != "" {
		rep.From = v.String()
	}
	var opts []stack.ServiceOption
	if rel.Image != "" {
		opts = append(opts, stack.WithImage(rel.Image))
	}
	if len(rel.Args) > 0 {
		opts = append(opts, stack.WithArgs(rel.Args...))
	}
	next := gw.Name + NextGatewaySuffix
	ns, err := r.rep.AddService(ctx, next, stack.RoleGateway, opts...)
	if err == nil {
		err = WaitHealthy(ctx, ns, r.o.healthTO)
	}
	if err == nil {
		_, err = NewAdmin(ns.URL, r.st.APIKey()).Models(ctx)
	}
	if err != nil {
		_ = r.rep.RemoveService(context.WithoutCancel(ctx), next)
		rep.Decision = DecisionAborted
		return rep, fmt.Errorf("gateway update: second instance (primary untouched): %w", err)
	}
	rep.Evidence = append(rep.Evidence, fmt.Sprintf("%s verified on %s", next, ns.URL))
	sw := time.Now()
	ps, err := r.rep.ReplaceService(ctx, gw.Name, opts...)
	if err == nil {
		err = WaitHealthy(ctx, ps, r.o.healthTO)
	}
	rep.SwitchSeconds = secs(time.Since(sw))
	_ = r.rep.RemoveService(context.WithoutCancel(ctx), next)
	r.finish(rep, start)
	if err != nil {
		rep.Decision = DecisionAborted
		return rep, fmt.Errorf("gateway update: replace primary: %w", err)
	}
	rep.Decision = DecisionCompleted
	rep.Evidence = append(rep.Evidence, fmt.Sprintf("primary replaced in %.2fs while %s served; %d failed requests at the primary's address",
		*rep.SwitchSeconds, next, rep.FailedRequests))
	return rep, nil
}
