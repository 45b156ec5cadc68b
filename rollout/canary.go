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
	base, err := r.admin.Models(ctx)
	if err != nil {
		return nil, fmt.Errorf("canary: %w", err)
	}
	var W float64
	for _, d := range base {
		W += d.Weight()
	}
	gw, err := gateway(ctx, r.st)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	rep := &reports.Rollout{Kind: "canary", Target: DefaultCanaryService, To: rel.String()}
	res := &CanaryResult{Report: rep}
	c, err := r.rep.AddService(ctx, DefaultCanaryService, stack.RoleModel, rel.Options()...)
	remove := func() {
		cctx := context.WithoutCancel(ctx)
		_ = r.admin.Delete(cctx, DefaultCanaryService)
		for _, d := range base {
			_ = r.admin.SetWeight(cctx, d.ID(), d.Weight())
		}
		_ = r.rep.RemoveService(cctx, DefaultCanaryService)
	}
	if err == nil {
		err = WaitHealthy(ctx, c, r.o.healthTO)
	}
	if err != nil {
		remove()
		rep.Decision = DecisionAborted
		return res, fmt.Errorf("canary: start %s: %w", DefaultCanaryService, err)
	}
	if v := stack.ServiceVersion(ctx, c); v.Version != "" {
		rep.To = rel.String() + " (" + v.String() + ")"
	}
	cid := depID(c)
	var lastBase Stats
	for i, pct := range steps {
		w := W * pct / (100 - pct)
		if pct >= 100 {
			w = W
			for _, d := range base {
				if err := r.admin.SetWeight(ctx, d.ID(), 0); err != nil {
					remove()
					return res, fmt.Errorf("canary: weights: %w", err)
				}
			}
		}
		if i == 0 {
			err = r.admin.Add(ctx, r.deploymentFor(c, w))
		} else {
			err = r.admin.SetWeight(ctx, cid, w)
		}
		if err != nil {
			remove()
			rep.Decision = DecisionAborted
			return res, fmt.Errorf("canary: weight step %.0f%%: %w", pct, err)
		}
		verdict, evidence, bs, err := r.analyse(ctx, gw.URL, c, base, an, lastBase)
		if err != nil {
			remove()
			rep.Decision = DecisionAborted
			return res, fmt.Errorf("canary step %.0f%%: %w", pct, err)
		}
		if bs.Total > 0 {
			lastBase = bs
		}
		rep.Evidence = append(rep.Evidence, fmt.Sprintf("step %.0f%%: %s", pct, evidence))
		r.o.log.Info("canary step", "percent", pct, "pass", verdict, "evidence", evidence)
		if !verdict {
			rb := time.Now()
			remove()
			rep.RollbackSeconds = secs(time.Since(rb))
			rep.Decision = DecisionRolledBack
			rep.DurationSeconds = time.Since(start).Seconds()
			rep.FailedRequests = r.failed(start, time.Now())
			return res, nil
		}
	}
	res.Promoted = true
	rep.Decision = DecisionPromoted
	if promoteRolling {
		for _, d := range base {
			_ = r.admin.SetWeight(ctx, d.ID(), d.Weight())
		}
		var names []string
		for _, d := range base {
			names = append(names, d.ID())
		}
		rr, err := r.RollingUpdate(ctx, names, rel)
		if rr != nil {
			for _, e := range rr.Report.Evidence {
				rep.Evidence = append(rep.Evidence, "promotion: "+e)
			}
		}
		if err != nil {
			rep.Evidence = append(rep.Evidence, "promotion rolling update failed: "+err.Error())
			remove()
			rep.Decision = DecisionAborted
			return res, fmt.Errorf("canary promotion: %w", err)
		}
		remove()
		rep.Evidence = append(rep.Evidence, "promoted: baseline replicas rolled to the release, canary removed")
	} else {
		rep.Evidence = append(rep.Evidence, "promoted: the canary serves all traffic; baseline deployments at weight 0")
		res.Undo = &Undo{Kind: "canary", Target: DefaultCanaryService, run: func(ctx context.Context) error { remove(); return nil }}
	}
	rep.DurationSeconds = time.Since(start).Seconds()
	rep.FailedRequests = r.failed(start, time.Now())
	return res, nil
}

// analyse waits one interval (extended up to 4× for MinSamples canary
// requests) and judges the canary against the baseline.
func (r *Rollouter) analyse(ctx context.Context, gwURL string, c stack.Service, base []Deployment, an Analysis, prevBase Stats) (bool, string, Stats, error) {
	cid := depID(c)
	from := time.Now()
	gw0, _ := Scrape(ctx, gwURL)
	ms0, _ := Scrape(ctx, c.URL)
	var cs Stats
	for ext := 0; ext < 4; ext++ {
		select {
		case <-ctx.Done():
			return false, "", Stats{}, ctx.Err()
		case <-time.After(an.Interval):
		}
		cs = r.o.traffic(from, time.Now(), cid)
		if cs.Total >= an.MinSamples {
			break
		}
	}
	to := time.Now()
	gw1, _ := Scrape(ctx, gwURL)
	ms1, _ := Scrape(ctx, c.URL)
	// Baseline: every baseline deployment's results pooled.
	var bs Stats
	var lat []time.Duration
	for _, d := range base {
		s := r.o.traffic(from, to, d.ID())
		bs.Total += s.Total
		bs.Failed += s.Failed
		if s.Total > 0 {
			lat = append(lat, s.P95)
		}
	}
	for _, l := range lat {
		bs.P95 = max(bs.P95, l)
	}
	baseCmp := bs
	if bs.Total == 0 {
		baseCmp = prevBase
	} else {
		bs.ErrorRate = float64(bs.Failed) / float64(bs.Total)
		baseCmp = bs
	}
	// Gateway's view of upstream failures (retries hide them from the probe).
	cErr := cs.ErrorRate
	gwNote := ""
	if gw0 != nil && gw1 != nil {
		a, b := gatewayCounters(gw0, cid), gatewayCounters(gw1, cid)
		if n := b.total - a.total; n > 0 {
			gr := (b.failed - a.failed) / n
			gwNote = fmt.Sprintf(", gateway upstream error rate %.3f over %.0f calls", gr, n)
			cErr = max(cErr, gr)
		}
		var bt, bf float64
		for _, d := range base {
			x, y := gatewayCounters(gw0, d.ID()), gatewayCounters(gw1, d.ID())
			bt += y.total - x.total
			bf += y.failed - x.failed
		}
		if bt > 0 {
			baseCmp.ErrorRate = max(baseCmp.ErrorRate, bf/bt)
		}
	}
	msNote := ""
	var cMean float64
	if ms0 != nil && ms1 != nil {
		s0, n0 := HistSumCount(ms0, "vllm:e2e_request_latency_seconds")
		s1, n1 := HistSumCount(ms1, "vllm:e2e_request_latency_seconds")
		if n1 > n0 {
			cMean = (s1 - s0) / float64(n1-n0)
			msNote = fmt.Sprintf(", model-server mean e2e %.3fs", cMean)
		}
	}
	ev := fmt.Sprintf("canary n=%d err=%.3f p95=%s%s%s; baseline n=%d err=%.3f p95=%s",
		cs.Total, cErr, cs.P95.Round(time.Millisecond), gwNote, msNote, baseCmp.Total, baseCmp.ErrorRate, baseCmp.P95.Round(time.Millisecond))
	if cs.Total < an.MinSamples && gwNote == "" {
		return false, ev + fmt.Sprintf(" -> breach: fewer than %d canary samples", an.MinSamples), bs, nil
	}
	if cErr > baseCmp.ErrorRate+an.MaxErrorRateDelta {
		return false, ev + fmt.Sprintf(" -> breach: error rate %.3f > baseline %.3f + %.3f", cErr, baseCmp.ErrorRate, an.MaxErrorRateDelta), bs, nil
	}
	limit := time.Duration(float64(baseCmp.P95)*an.MaxP95Factor) + DefaultP95Slack
	if baseCmp.Total > 0 && cs.Total > 0 && cs.P95 > limit {
		return false, ev + fmt.Sprintf(" -> breach: p95 %s > %s (baseline × %.2f + %s)", cs.P95.Round(time.Millisecond), limit.Round(time.Millisecond), an.MaxP95Factor, DefaultP95Slack), bs, nil
	}
	if cMean > 0 && baseCmp.P95 > 0 && time.Duration(cMean*float64(time.Second)) > limit {
		return false, ev + fmt.Sprintf(" -> breach: model-server mean e2e %.3fs > %s", cMean, limit.Round(time.Millisecond)), bs, nil
	}
	return true, ev + " -> pass", bs, nil
}
