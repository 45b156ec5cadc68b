package drill

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/chaos/network"
	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/slo"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/uptime"
)

// secs converts a duration to seconds for the report.
func secs(d time.Duration) float64 { return d.Seconds() }

// outageMean is an MTTR or MTBF for the report: nil without outages,
// where the analysis's 0 would claim a recovery of 0 s.
func outageMean(d time.Duration, outages int) *float64 {
	if outages == 0 {
		return nil
	}
	v := secs(d)
	return &v
}

// quantiles are d's percentiles and sample count for the report (count 0:
// not measured).
func quantiles(d uptime.Dist) reports.Quantiles {
	return reports.Quantiles{P50: secs(d.P50), P95: secs(d.P95), P99: secs(d.P99), Count: d.Count}
}

// buildReport assembles the report from the analysis, the run's records
// and (when monitoring ran) Prometheus's alerts and SLO view, which it
// stops.
func (r *Runner) buildReport(ctx context.Context, a *uptime.Analysis, before, after []stack.Version) *reports.Report {
	rep := &reports.Report{
		SchemaVersion: reports.SchemaVersion,
		Plan:          r.plan.Name,
		Description:   r.plan.Description,
		Stack:         r.o.stackName,
		RunID:         r.stack.RunID(),
		Seed:          r.plan.Seed,
		StartedAt:     r.started,
		FinishedAt:    time.Now(),
		Availability:  reports.Availability{RequestBased: a.Availability.RequestBased, TimeBased: a.Availability.TimeBased},
		Requests:      reports.Requests{Total: a.Total, Failed: a.Failed, ByOutcome: a.ByOutcome},
		MTTRSeconds:   outageMean(a.MTTR, len(a.Outages)),
		MTBFSeconds:   outageMean(a.MTBF, len(a.Outages)),
		Latency:       quantiles(a.Latency),
		TTFT:          quantiles(a.TTFT),
		ITL:           quantiles(a.ITL),
		TPOT:          quantiles(a.TPOT),
		ThroughputRPS: a.Throughput,
		GoodputRPS:    a.Goodput.PerSecond,
		Outages:       []reports.Outage{},
		Steps:         []reports.Step{},
		SLO:           []reports.SLOResult{},
		Environment:   environment(r.o.toolVer),
	}
	rep.Samples = &reports.Samples{
		Capacity: uptime.DefaultSampleCap,
		Method:   reports.SampleMethod,
		Latency:  reports.NewSampleSet(a.Samples.Latency.Seen, a.Samples.Latency.Values, a.Samples.Latency.At, r.started),
		TTFT:     reports.NewSampleSet(a.Samples.TTFT.Seen, a.Samples.TTFT.Values, a.Samples.TTFT.At, r.started),
	}
	rep.MTTRPhases = meanPhases(a.Outages)
	for _, o := range a.Outages {
		rep.Outages = append(rep.Outages, reports.Outage{Start: o.Start, End: o.End, DurationSeconds: secs(o.Duration), Cause: o.Cause})
	}
	r.fillSteps(rep, a)
	rep.ComponentRecovery = r.comps.report(a, r.traffic.log, r.started)
	rep.ServiceAvailability = r.svcProbes.report()
	for _, out := range r.outcomes {
		if out.Rollout != nil {
			rep.Rollouts = append(rep.Rollouts, *out.Rollout)
		}
		if out.DR != nil {
			rep.DR = mergeDR(rep.DR, out.DR)
		}
		if out.Validation != nil {
			rep.Validations = append(rep.Validations, *out.Validation)
		}
	}
	r.judge(rep, a)
	rep.Grade = slo.Grade(a.Availability.RequestBased)
	rep.Services = serviceVersions(ctx, before, after, r.stack)
	rep.Capabilities = r.capabilities()
	if a.TTFT.Count == 0 {
		rep.Capabilities.Notes = append(rep.Capabilities.Notes,
			"TTFT, ITL and TPOT not measured: no successful streamed request (the probe streams in mode stream, and every stream_every-th request in mode chat)")
	}
	rep.Timeline = r.timeline(a)
	if r.mon != nil {
		alerts, view, notes := r.mon.finish(context.WithoutCancel(ctx), a.Start, a.End, a.Events, r.plan)
		rep.Alerts, rep.SLOPrometheus = alerts, view
		rep.Capabilities.Prometheus = true
		rep.Capabilities.Notes = append(rep.Capabilities.Notes, notes...)
		checkExpectedAlerts(rep, r.plan)
	}
	return rep
}

// judge evaluates the plan's objectives: the probe's analysis, and the RTO
// and RPO a restore measured.
func (r *Runner) judge(rep *reports.Report, a *uptime.Analysis) {
	var rto, rpo *time.Duration
	if dr := rep.DR; dr != nil {
		if dr.RTOSeconds != nil {
			d := time.Duration(*dr.RTOSeconds * float64(time.Second))
			rto = &d
		}
		if dr.RPOSeconds != nil {
			d := time.Duration(*dr.RPOSeconds * float64(time.Second))
			rpo = &d
		}
	}
	results, err := slo.Evaluate(a, r.plan.SLO.Objectives(), slo.WithDR(rto, rpo))
	if err != nil {
		r.o.log.Warn("slo evaluation", "err", err)
	}
	for _, s := range results {
		res := reports.SLOResult{Name: s.Name, Kind: string(s.Kind), Target: s.Target, Actual: s.Actual, Compliant: s.Compliant,
			Op: s.Kind.Op(), Unit: s.Kind.Unit(), NotMeasured: s.NoData, NotEvaluated: s.NotEvaluated, Detail: s.Detail}
		res.BudgetConsumed, res.BurnRate = budget(s)
		rep.SLO = append(rep.SLO, res)
	}
}

// verdictReason is the report's verdict_reason: what broke (base, "" for
// a run that ran to the end), then every breached SLO as the comparison
// that failed and every deviated step with its deviation; "" when nothing
// broke and nothing fell short.
func verdictReason(base string, rep *reports.Report) string {
	notMet := reports.ShortfallReason(rep)
	switch {
	case base == "":
		return notMet
	case notMet == "":
		return base
	}
	return base + "; also " + notMet
}

// budget is the error budget a result consumed and its burn rate, each
// nil where slo does not compute it: nothing measured, no budget for
// throughput and goodput_rate, no burn rate for recovery_time, RTO or RPO.
func budget(s slo.Result) (consumed, burnRate *float64) {
	if s.NoData {
		return nil, nil
	}
	bc, br := s.BudgetConsumed, s.BurnRate
	switch s.Kind {
	case slo.KindThroughput, slo.KindGoodputRate:
		return nil, nil
	case slo.KindRecoveryTime, slo.KindRTO, slo.KindRPO:
		return &bc, nil
	}
	return &bc, &br
}

// meanPhases averages each MTTR phase's offset over the outages that have it.
func meanPhases(outs []uptime.Outage) []reports.Phase {
	sum := map[string]time.Duration{}
	n := map[string]int{}
	var order []string
	for _, o := range outs {
		for _, p := range o.Phases {
			if _, seen := n[p.Name]; !seen {
				order = append(order, p.Name)
			}
			sum[p.Name] += p.Since
			n[p.Name]++
		}
	}
	var out []reports.Phase
	for _, name := range order {
		out = append(out, reports.Phase{Name: name, Seconds: secs(sum[name] / time.Duration(n[name]))})
	}
	return out
}

// fillSteps turns step records into report steps and judges expectations.
func (r *Runner) fillSteps(rep *reports.Report, a *uptime.Analysis) {
	rec := map[string]uptime.Recovery{}
	for _, rv := range a.Recoveries {
		if rv.Event.Step == "" {
			continue
		}
		if old, ok := rec[rv.Event.Step]; !ok || rv.Time > old.Time {
			rec[rv.Event.Step] = rv
		}
	}
	r.mu.Lock()
	steps := append([]stepRecord(nil), r.steps...)
	r.mu.Unlock()
	for _, s := range steps {
		rs := reports.Step{Name: s.step.Name, Kind: stepKind(s), Target: s.target, StartedAt: s.start, FinishedAt: s.end,
			Status: s.status, Error: s.err, Mechanism: s.mechanism}
		if s.status != reports.StatusSkipped {
			rs.Targets = loadTargets(&r.shared, s.step.Name)
		}
		if s.kind == plan.StepFault || s.kind == plan.StepAction {
			// Only an outage users saw has a recovery: with none, the
			// column says so rather than "0 s".
			if rv, ok := rec[s.step.Name]; ok && rv.Outage >= 0 {
				v := secs(rv.Time)
				rs.RecoverySeconds = &v
			}
		}
		if rs.Status == reports.StatusPassed && s.step.Expect != nil {
			if dev := r.deviation(s, rec, a); dev != "" {
				rs.Status, rs.Error = reports.StatusFailed, dev
			}
		}
		rep.Steps = append(rep.Steps, rs)
	}
}

// stepKind names what a step did: "fault:gpu-kill", "action:canary",
// "await:recovered", "wait", "revert".
func stepKind(s stepRecord) string {
	switch s.kind {
	case plan.StepFault:
		return s.kind + ":" + s.step.Fault
	case plan.StepAction:
		return s.kind + ":" + s.step.Action
	case plan.StepAwait:
		return s.kind + ":" + s.step.Await.Kind
	}
	return s.kind
}

// deviation checks a step's hypothesis; "" when it held.
func (r *Runner) deviation(s stepRecord, rec map[string]uptime.Recovery, a *uptime.Analysis) string {
	e := s.step.Expect
	rv, hasRec := rec[s.step.Name]
	caused := hasRec && rv.Outage >= 0
	var devs []string
	if e.Outage != nil {
		switch {
		case *e.Outage && !caused:
			devs = append(devs, "expected an outage, the probe saw none")
		case !*e.Outage && caused:
			devs = append(devs, fmt.Sprintf("expected no outage, the probe saw one of %s", rv.Time.Round(time.Millisecond)))
		}
	}
	if e.MaxRecovery > 0 && caused && rv.Time > e.MaxRecovery.D() {
		devs = append(devs, fmt.Sprintf("recovery took %s, more than %s", rv.Time.Round(time.Millisecond), e.MaxRecovery.D()))
	}
	if e.MaxFailedRequests != nil {
		total, good := a.Counts(s.start, s.impactEnd)
		if failed := total - good; failed > int64(*e.MaxFailedRequests) {
			devs = append(devs, fmt.Sprintf("%d of %d requests failed, more than %d allowed", failed, total, *e.MaxFailedRequests))
		}
	}
	return strings.Join(devs, "; ")
}

func serviceVersions(ctx context.Context, before, after []stack.Version, st stack.Stack) []reports.Service {
	idx := map[string]int{}
	var out []reports.Service
	add := func(v stack.Version, isAfter bool) {
		i, ok := idx[v.Service]
		if !ok {
			i = len(out)
			idx[v.Service] = i
			out = append(out, reports.Service{Name: v.Service, Role: string(v.Role)})
		}
		if isAfter {
			out[i].VersionAfter = v.String()
		} else {
			out[i].VersionBefore = v.String()
		}
	}
	for _, v := range before {
		add(v, false)
	}
	for _, v := range after {
		add(v, true)
	}
	if svcs, err := st.Services(context.WithoutCancel(ctx)); err == nil {
		for _, s := range svcs {
			if i, ok := idx[s.Name]; ok {
				out[i].URL, out[i].Image = s.URL, s.Image
			}
		}
	}
	return out
}

// capabilities says what the kernel and the stack allowed for this run, and
// the fallbacks used.
func (r *Runner) capabilities() reports.Capabilities {
	c := reports.Capabilities{Netem: r.kernel.Netem, Nftables: r.kernel.Nftables, StackKind: r.stack.Kind()}
	var hasProxy bool
	if sr, ok := r.stack.(stack.SetupReporter); ok {
		su := sr.Setup()
		hasProxy, c.GPU = su.Proxy, su.GPU
		c.Extra = map[string]string{"proxy_mode": su.ProxyMode, "disk_full": fmt.Sprint(su.DiskFull)}
		if su.DiskFullDetail != "" {
			c.Extra["disk_full_detail"] = su.DiskFullDetail
		}
	}
	if m, err := network.DelayMechanism(r.kernel, hasProxy); err == nil {
		c.LatencyMechanism = m
	} else {
		c.LatencyMechanism = "none"
		c.Notes = append(c.Notes, "latency faults unavailable: "+err.Error())
	}
	if m, err := network.LossMechanism(r.kernel); err == nil {
		c.LossMechanism = m
	}
	if !r.kernel.Netem {
		reason := r.kernel.Why("netem")
		if reason == "" {
			reason = "sch_netem missing"
		}
		c.Notes = append(c.Notes, fmt.Sprintf("kernel lacks netem (%s): latency via %s, loss via %s", reason, c.LatencyMechanism, c.LossMechanism))
	}
	return c
}

func (r *Runner) timeline(a *uptime.Analysis) reports.Timeline {
	width := time.Second
	if a.Span > 0 {
		width = (a.Span / DefaultTimelineBuckets).Round(100 * time.Millisecond)
		if width < 500*time.Millisecond {
			width = 500 * time.Millisecond
		}
	}
	tl := reports.Timeline{BucketSeconds: secs(width)}
	for _, b := range a.Buckets(width) {
		tl.Buckets = append(tl.Buckets, reports.Bucket{T: b.Start, Requests: b.Total, Success: b.SuccessRate, P95: secs(b.LatencyP95)})
	}
	r.mu.Lock()
	tl.Faults = append(tl.Faults, r.windows...)
	r.mu.Unlock()
	for _, e := range a.Events {
		if e.Kind == uptime.StepFinished {
			continue
		}
		tl.Events = append(tl.Events, reports.TimelineEvent{At: e.At, Kind: string(e.Kind), Step: e.Step, Detail: e.Detail})
	}
	return tl
}

func mergeDR(into, from *reports.DR) *reports.DR {
	if into == nil {
		c := *from
		return &c
	}
	if from.RTOSeconds != nil {
		into.RTOSeconds = from.RTOSeconds
	}
	if from.RPOSeconds != nil {
		into.RPOSeconds = from.RPOSeconds
	}
	if from.RPORows != nil {
		into.RPORows = from.RPORows
	}
	if from.GoldenPromptMatch != nil {
		into.GoldenPromptMatch = from.GoldenPromptMatch
	}
	if from.BackupDir != "" {
		into.BackupDir = from.BackupDir
	}
	into.Phases = append(into.Phases, from.Phases...)
	into.Notes = append(into.Notes, from.Notes...)
	return into
}

func environment(toolVersion string) reports.Environment {
	e := reports.Environment{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), ToolVersion: toolVersion}
	e.Host, _ = os.Hostname()
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		e.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	return e
}
