package rollout

import (
	"context"
	"fmt"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/stack"
)

// Canary defaults.
const (
	DefaultCanaryService     = "canary"
	DefaultCanaryInterval    = 10 * time.Second
	DefaultMaxErrorRateDelta = 0.01
	DefaultMaxP95Factor      = 1.5
	DefaultP95Slack          = 50 * time.Millisecond
	DefaultMinSamples        = 10
)

// DefaultCanarySteps are the canary's traffic shares in percent.
var DefaultCanarySteps = []float64{5, 25, 50, 100}

// Analysis is the canary judgement's thresholds (see the package doc).
type Analysis struct {
	Interval          time.Duration
	MaxErrorRateDelta float64 // 0..1, added to the baseline's error rate
	MaxP95Factor      float64 // canary p95 <= baseline p95 × factor + DefaultP95Slack
	MinSamples        int
}

// DefaultAnalysis returns the default thresholds.
func DefaultAnalysis() Analysis {
	return Analysis{Interval: DefaultCanaryInterval, MaxErrorRateDelta: DefaultMaxErrorRateDelta,
		MaxP95Factor: DefaultMaxP95Factor, MinSamples: DefaultMinSamples}
}

// CanaryResult is a canary's report. Promoted says whether the release won.
type CanaryResult struct {
	Report   *reports.Rollout
	Promoted bool
	Undo     *Undo
}

type depCounters struct{ total, failed float64 }

func gatewayCounters(fams map[string]*dto.MetricFamily, id string) depCounters {
	var c depCounters
	sum := func(name string) float64 {
		var s float64
		for _, m := range fams[name].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "model_id" && l.GetValue() == id {
					s += m.GetCounter().GetValue()
				}
			}
		}
		return s
	}
	c.total = sum("litellm_deployment_total_requests")
	c.failed = sum("litellm_deployment_failure_responses")
	if c.total == 0 { // client_golang text names counters with _total
		c.total = sum("litellm_deployment_total_requests_total")
		c.failed = sum("litellm_deployment_failure_responses_total")
	}
	return c
}

// Canary adds one model service (DefaultCanaryService) with rel, registers
// it at the gateway with a weight giving it steps[i] percent of the traffic
// and analyses each step against the baseline deployments (package doc).
// On a breach it removes the canary at once (decision rolled-back, with the
// evidence; not an error). After the last step it promotes: with
// promoteRolling the baseline replicas are rolling-updated to rel and the
// canary removed, else the canary stays as a member of the group.
func (r *Rollouter) Canary(ctx context.Context, rel Release, steps []float64, an Analysis, promoteRolling bool) (*CanaryResult, error) {
	if err := r.checkRelease(ctx, rel); err != nil {
		return nil, err
	}
	if r.o.traffic == nil {
		return nil, fmt.Errorf("canary: no probe traffic to analyse (WithTraffic)")
	}
	if len(steps) == 0 {
		steps = DefaultCanarySteps
	}
	if an.Interval <= 0 {
		an = DefaultAnalysis()
	}
	k, err := r.newCanary(ctx, rel)
	if err != nil {
		return nil, err
	}
	if err := k.startService(ctx, rel); err != nil {
		return k.res, err
	}
	for i, pct := range steps {
		pass, err := k.step(ctx, i == 0, pct, an)
		if err != nil {
			return k.res, err
		}
		if !pass {
			k.rollBack(ctx)
			return k.res, nil
		}
	}
	if err := k.promote(ctx, rel, promoteRolling); err != nil {
		return k.res, err
	}
	return k.res, nil
}

// canary is one canary rollout under way.
type canary struct {
	r        *Rollouter
	base     []Deployment // the baseline deployments, with their weights before the canary
	weight   float64      // the baseline's total weight
	gwURL    string
	svc      stack.Service // the canary, once started
	lastBase Stats         // the last step's baseline that had traffic
	start    time.Time
	res      *CanaryResult
}

// newCanary reads the baseline deployments and the gateway, and starts the
// report.
func (r *Rollouter) newCanary(ctx context.Context, rel Release) (*canary, error) {
	base, err := r.admin.Models(ctx)
	if err != nil {
		return nil, fmt.Errorf("canary: %w", err)
	}
	k := &canary{r: r, base: base}
	for _, d := range base {
		k.weight += d.Weight()
	}
	gw, err := gateway(ctx, r.st)
	if err != nil {
		return nil, err
	}
	k.gwURL = gw.URL
	k.start = time.Now()
	k.res = &CanaryResult{Report: &reports.Rollout{Kind: "canary", Target: DefaultCanaryService, To: rel.String()}}
	return k, nil
}

// startService adds the canary service with rel and waits for its health;
// on failure it removes it again (decision aborted).
func (k *canary) startService(ctx context.Context, rel Release) error {
	rep := k.res.Report
	c, err := k.r.rep.AddService(ctx, DefaultCanaryService, stack.RoleModel, rel.Options()...)
	if err == nil {
		err = WaitHealthy(ctx, c, k.r.o.healthTO)
	}
	if err != nil {
		k.remove(ctx)
		rep.Decision = DecisionAborted
		return fmt.Errorf("canary: start %s: %w", DefaultCanaryService, err)
	}
	if v := stack.ServiceVersion(ctx, c); v.Version != "" {
		rep.To = rel.String() + " (" + v.String() + ")"
	}
	k.svc = c
	return nil
}

// step gives the canary pct percent of the traffic (registering it at the
// gateway on the first step) and analyses one interval. It says whether
// the canary passed; on an error the canary has been removed.
func (k *canary) step(ctx context.Context, first bool, pct float64, an Analysis) (bool, error) {
	rep := k.res.Report
	if err := k.shift(ctx, first, pct); err != nil {
		return false, err
	}
	verdict, evidence, bs, err := k.r.analyse(ctx, k.gwURL, k.svc, k.base, an, k.lastBase)
	if err != nil {
		k.remove(ctx)
		rep.Decision = DecisionAborted
		return false, fmt.Errorf("canary step %.0f%%: %w", pct, err)
	}
	if bs.Total > 0 {
		k.lastBase = bs
	}
	rep.Evidence = append(rep.Evidence, fmt.Sprintf("step %.0f%%: %s", pct, evidence))
	k.r.o.log.Info("canary step", "percent", pct, "pass", verdict, "evidence", evidence)
	return verdict, nil
}

// shift sets the gateway weights for pct percent to the canary: weight
// W·pct/(100−pct) beside the baseline's total W, or at 100 % weight W with
// every baseline deployment at 0. On an error it removes the canary.
func (k *canary) shift(ctx context.Context, first bool, pct float64) error {
	w := k.weight * pct / (100 - pct)
	if pct >= 100 {
		w = k.weight
		for _, d := range k.base {
			if err := k.r.admin.SetWeight(ctx, d.ID(), 0); err != nil {
				k.remove(ctx)
				k.res.Report.Decision = DecisionAborted
				return fmt.Errorf("canary: weights: %w", err)
			}
		}
	}
	var err error
	if first {
		err = k.r.admin.Add(ctx, k.r.deploymentFor(k.svc, w))
	} else {
		err = k.r.admin.SetWeight(ctx, depID(k.svc), w)
	}
	if err != nil {
		k.remove(ctx)
		k.res.Report.Decision = DecisionAborted
		return fmt.Errorf("canary: weight step %.0f%%: %w", pct, err)
	}
	return nil
}

// rollBack removes the canary after a breach, timed (decision rolled-back).
func (k *canary) rollBack(ctx context.Context) {
	rep := k.res.Report
	rb := time.Now()
	k.remove(ctx)
	rep.RollbackSeconds = secs(time.Since(rb))
	rep.Decision = DecisionRolledBack
	k.r.finish(rep, k.start)
}

// promote ends a canary that passed every step: with promoteRolling the
// baseline replicas are rolled to rel and the canary removed, else the
// canary keeps serving alone and the result gets an undo that removes it.
func (k *canary) promote(ctx context.Context, rel Release, promoteRolling bool) error {
	rep := k.res.Report
	k.res.Promoted = true
	rep.Decision = DecisionPromoted
	if promoteRolling {
		k.restoreWeights(ctx)
		var names []string
		for _, d := range k.base {
			names = append(names, d.ID())
		}
		rr, err := k.r.RollingUpdate(ctx, names, rel)
		if rr != nil {
			for _, e := range rr.Report.Evidence {
				rep.Evidence = append(rep.Evidence, "promotion: "+e)
			}
		}
		if err != nil {
			rep.Evidence = append(rep.Evidence, "promotion rolling update failed: "+err.Error())
			k.remove(ctx)
			rep.Decision = DecisionAborted
			return fmt.Errorf("canary promotion: %w", err)
		}
		k.remove(ctx)
		rep.Evidence = append(rep.Evidence, "promoted: baseline replicas rolled to the release, canary removed")
	} else {
		rep.Evidence = append(rep.Evidence, "promoted: the canary serves all traffic; baseline deployments at weight 0")
		k.res.Undo = &Undo{Kind: "canary", Target: DefaultCanaryService, run: func(uctx context.Context) error { k.remove(uctx); return nil }}
	}
	k.r.finish(rep, k.start)
	return nil
}

// remove deletes the canary's deployment, gives the baseline deployments
// their weights back and removes the canary service, ignoring errors (what
// is already gone is fine), even when ctx is cancelled.
func (k *canary) remove(ctx context.Context) {
	cctx := context.WithoutCancel(ctx)
	_ = k.r.admin.Delete(cctx, DefaultCanaryService)
	k.restoreWeights(cctx)
	_ = k.r.rep.RemoveService(cctx, DefaultCanaryService)
}

// restoreWeights gives every baseline deployment its weight from before the
// canary, ignoring errors.
func (k *canary) restoreWeights(ctx context.Context) {
	for _, d := range k.base {
		_ = k.r.admin.SetWeight(ctx, d.ID(), d.Weight())
	}
}

// analyse waits one interval (extended up to 4× for MinSamples canary
// requests) and judges the canary against the baseline.
func (r *Rollouter) analyse(ctx context.Context, gwURL string, c stack.Service, base []Deployment, an Analysis, prevBase Stats) (bool, string, Stats, error) {
	cid := depID(c)
	w, err := r.observe(ctx, gwURL, c, an)
	if err != nil {
		return false, "", Stats{}, err
	}
	bs := r.pooled(w.from, w.to, base)
	cmp := comparison{canary: w.canary, canaryErr: w.canary.ErrorRate, base: bs}
	if bs.Total == 0 {
		cmp.base = prevBase
	}
	if w.gw0 != nil && w.gw1 != nil {
		cmp.addGateway(w.gw0, w.gw1, cid, base)
	}
	if w.ms0 != nil && w.ms1 != nil {
		cmp.addModelServer(w.ms0, w.ms1)
	}
	pass, ev := cmp.judge(an)
	return pass, ev, bs, nil
}

// window is what one analysis interval observed: the probe's results
// answered by the canary, and the gateway's and the canary model server's
// metrics at both ends (nil where a scrape failed).
type window struct {
	from, to time.Time
	canary   Stats
	gw0, gw1 map[string]*dto.MetricFamily
	ms0, ms1 map[string]*dto.MetricFamily
}

// observe scrapes the gateway and the canary, waits one interval (extended
// up to 4× until the canary has MinSamples requests) and scrapes them again.
func (r *Rollouter) observe(ctx context.Context, gwURL string, c stack.Service, an Analysis) (window, error) {
	cid := depID(c)
	var w window
	w.from = time.Now()
	w.gw0, _ = Scrape(ctx, gwURL)
	w.ms0, _ = Scrape(ctx, c.URL)
	for ext := 0; ext < 4; ext++ {
		select {
		case <-ctx.Done():
			return window{}, ctx.Err()
		case <-time.After(an.Interval):
		}
		w.canary = r.o.traffic(w.from, time.Now(), cid)
		if w.canary.Total >= an.MinSamples {
			break
		}
	}
	w.to = time.Now()
	w.gw1, _ = Scrape(ctx, gwURL)
	w.ms1, _ = Scrape(ctx, c.URL)
	return w, nil
}

// pooled is every baseline deployment's probe results in [from, to)
// pooled: counts summed, the largest p95, the error rate when there was
// traffic.
func (r *Rollouter) pooled(from, to time.Time, base []Deployment) Stats {
	var bs Stats
	for _, d := range base {
		s := r.o.traffic(from, to, d.ID())
		bs.Total += s.Total
		bs.Failed += s.Failed
		if s.Total > 0 {
			bs.P95 = max(bs.P95, s.P95)
		}
	}
	if bs.Total > 0 {
		bs.ErrorRate = float64(bs.Failed) / float64(bs.Total)
	}
	return bs
}

// comparison is one interval's canary and baseline figures, as judged.
type comparison struct {
	canary    Stats   // the probe's, canary only
	canaryErr float64 // the larger of the probe's and the gateway's error rate
	base      Stats   // this interval's baseline, or the last one with traffic
	gwNote    string  // the gateway's view, when it saw canary calls
	msNote    string  // the model server's view, when it served requests
	meanE2E   float64 // the canary model server's mean e2e latency, seconds (0: unknown)
}

// addGateway takes the gateway's view of upstream failures (retries hide
// them from the probe) into both error rates.
func (cmp *comparison) addGateway(gw0, gw1 map[string]*dto.MetricFamily, cid string, base []Deployment) {
	a, b := gatewayCounters(gw0, cid), gatewayCounters(gw1, cid)
	if n := b.total - a.total; n > 0 {
		gr := (b.failed - a.failed) / n
		cmp.gwNote = fmt.Sprintf(", gateway upstream error rate %.3f over %.0f calls", gr, n)
		cmp.canaryErr = max(cmp.canaryErr, gr)
	}
	var bt, bf float64
	for _, d := range base {
		x, y := gatewayCounters(gw0, d.ID()), gatewayCounters(gw1, d.ID())
		bt += y.total - x.total
		bf += y.failed - x.failed
	}
	if bt > 0 {
		cmp.base.ErrorRate = max(cmp.base.ErrorRate, bf/bt)
	}
}

// addModelServer takes the canary model server's mean e2e latency over the
// interval.
func (cmp *comparison) addModelServer(ms0, ms1 map[string]*dto.MetricFamily) {
	s0, n0 := HistSumCount(ms0, "vllm:e2e_request_latency_seconds")
	s1, n1 := HistSumCount(ms1, "vllm:e2e_request_latency_seconds")
	if n1 > n0 {
		cmp.meanE2E = (s1 - s0) / float64(n1-n0)
		cmp.msNote = fmt.Sprintf(", model-server mean e2e %.3fs", cmp.meanE2E)
	}
}

// judge says whether the canary passed the thresholds, with the evidence.
func (cmp comparison) judge(an Analysis) (bool, string) {
	cs, bc := cmp.canary, cmp.base
	ev := fmt.Sprintf("canary n=%d err=%.3f p95=%s%s%s; baseline n=%d err=%.3f p95=%s",
		cs.Total, cmp.canaryErr, cs.P95.Round(time.Millisecond), cmp.gwNote, cmp.msNote, bc.Total, bc.ErrorRate, bc.P95.Round(time.Millisecond))
	if cs.Total < an.MinSamples && cmp.gwNote == "" {
		return false, ev + fmt.Sprintf(" -> breach: fewer than %d canary samples", an.MinSamples)
	}
	if cmp.canaryErr > bc.ErrorRate+an.MaxErrorRateDelta {
		return false, ev + fmt.Sprintf(" -> breach: error rate %.3f > baseline %.3f + %.3f", cmp.canaryErr, bc.ErrorRate, an.MaxErrorRateDelta)
	}
	limit := time.Duration(float64(bc.P95)*an.MaxP95Factor) + DefaultP95Slack
	if bc.Total > 0 && cs.Total > 0 && cs.P95 > limit {
		return false, ev + fmt.Sprintf(" -> breach: p95 %s > %s (baseline × %.2f + %s)", cs.P95.Round(time.Millisecond), limit.Round(time.Millisecond), an.MaxP95Factor, DefaultP95Slack)
	}
	if cmp.meanE2E > 0 && bc.P95 > 0 && time.Duration(cmp.meanE2E*float64(time.Second)) > limit {
		return false, ev + fmt.Sprintf(" -> breach: model-server mean e2e %.3fs > %s", cmp.meanE2E, limit.Round(time.Millisecond))
	}
	return true, ev + " -> pass"
}
