package drill

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/slo"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/uptime"
)

// SLOSpec maps the plan's slo block onto the slo package's spec.
func (p *Plan) SLOSpec() slo.Spec {
	in := p.SLO
	var out slo.Spec
	if in.Availability != nil {
		v := slo.Percent(in.Availability.Fraction())
		out.Availability = &v
	}
	if in.ErrorRate != nil {
		v := slo.Percent(in.ErrorRate.Fraction())
		out.ErrorRate = &v
	}
	out.LatencyP95 = slo.Duration(in.LatencyP95.D())
	out.LatencyP99 = slo.Duration(in.LatencyP99.D())
	out.RecoveryTime = slo.Duration(in.RecoveryTime.D())
	out.TTFTP95 = slo.Duration(in.TTFTP95.D())
	out.Throughput = in.Throughput
	if g := in.Goodput; g != nil {
		gs := &slo.GoodputSpec{TTFT: slo.Duration(g.TTFT.D()), TPOT: slo.Duration(g.TPOT.D()),
			Latency: slo.Duration(g.Latency.D()), MinRPS: g.MinRPS}
		if g.Attainment != nil {
			v := slo.Percent(g.Attainment.Fraction())
			gs.Attainment = &v
		}
		out.Goodput = gs
	}
	return out
}

// secs converts a duration to seconds for the report.
func secs(d time.Duration) float64 { return d.Seconds() }

func quantiles(d uptime.Dist) reports.Quantiles {
	return reports.Quantiles{P50: secs(d.P50), P95: secs(d.P95), P99: secs(d.P99)}
}

// buildReport assembles the report from the analysis and the run's records.
func (r *Runner) buildReport(a *uptime.Analysis, before, after []stack.Version) (*reports.Report, []slo.Result, error) {
	rep := &reports.Report{
		SchemaVersion: reports.SchemaVersion,
		Plan:          r.plan.Name,
		Description:   r.plan.Description,
		RunID:         r.stack.RunID(),
		StartedAt:     r.started,
		FinishedAt:    time.Now(),
		Availability:  reports.Availability{RequestBased: a.Availability.RequestBased, TimeBased: a.Availability.TimeBased},
		Requests:      reports.Requests{Total: a.Total, Failed: a.Failed, ByOutcome: a.ByOutcome},
		MTTRSeconds:   secs(a.MTTR),
		MTBFSeconds:   secs(a.MTBF),
		Latency:       quantiles(a.Latency),
		TTFT:          quantiles(a.TTFT),
		ThroughputRPS: a.Throughput,
		GoodputRPS:    a.Goodput.PerSecond,
		Outages:       []reports.Outage{},
		Steps:         []reports.Step{},
		SLO:           []reports.SLOResult{},
		Environment:   environment(r.o.toolVer),
	}
	rep.MTTRPhases = meanPhases(a.Outages)
	for _, o := range a.Outages {
		rep.Outages = append(rep.Outages, reports.Outage{Start: o.Start, End: o.End, DurationSeconds: secs(o.Duration), Cause: o.Cause})
	}
	r.fillSteps(rep, a)

	spec := r.plan.SLOSpec()
	results, err := slo.Evaluate(a, spec.Objectives())
	for _, s := range results {
		res := reports.SLOResult{Name: s.Name, Target: s.Target, Actual: s.Actual, Compliant: s.Compliant, Op: sloOp(s.Kind), Unit: sloUnit(s.Kind)}
		if s.Kind != slo.KindThroughput {
			bc, br := s.BudgetConsumed, s.BurnRate
			res.BudgetConsumed, res.BurnRate = &bc, &br
		}
		rep.SLO = append(rep.SLO, res)
	}
	rep.Grade = slo.Grade(a.Availability.RequestBased)
	rep.Services = serviceVersions(before, after, r.stack)
	rep.Capabilities = r.capabilities()
	if a.TTFT.Count == 0 {
		rep.Capabilities.Notes = append(rep.Capabilities.Notes,
			"TTFT not measured: no successful streamed request (the probe streams only in mode: stream); ttft_seconds are 0")
	}
	rep.Timeline = r.timeline(a)
	for _, out := range r.outcomes {
		if out.Rollout != nil {
			rep.Rollouts = append(rep.Rollouts, *out.Rollout)
		}
		if out.DR != nil {
			rep.DR = mergeDR(rep.DR, out.DR)
		}
	}
	return rep, results, err
}

func sloOp(k slo.Kind) string {
	switch k {
	case slo.KindAvailability, slo.KindThroughput, slo.KindGoodput:
		return ">="
	}
	return "<="
}

func sloUnit(k slo.Kind) string {
	switch k {
	case slo.KindAvailability, slo.KindErrorRate, slo.KindGoodput:
		return "ratio"
	case slo.KindThroughput:
		return "req/s"
	}
	return "seconds"
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
		if s.kind == StepFault || s.kind == StepAction {
			if rv, ok := rec[s.step.Name]; ok {
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
	case StepFault:
		return s.kind + ":" + s.step.Fault
	case StepAction:
		return s.kind + ":" + s.step.Action
	case StepAwait:
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

func serviceVersions(before, after []stack.Version, st stack.Stack) []reports.Service {
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
	if svcs, err := st.Services(context.Background()); err == nil {
		for _, s := range svcs {
			if i, ok := idx[s.Name]; ok {
				out[i].URL, out[i].Image = s.URL, s.Image
			}
		}
	}
	return out
}

func (r *Runner) capabilities() reports.Capabilities {
	c := reports.Capabilities{Netem: r.caps.Netem, Nftables: r.caps.Nftables, StackKind: r.stack.Kind(), GPU: "simulated (fixture nvidia-smi shim)"}
	var hasProxy bool
	if cr, ok := r.stack.(stack.CapabilityReporter); ok {
		sc := cr.Capabilities()
		hasProxy = sc.Proxy
		c.Extra = map[string]string{"proxy_mode": sc.ProxyMode, "disk_full": fmt.Sprint(sc.DiskFull)}
		if sc.DiskFullDetail != "" {
			c.Extra["disk_full_detail"] = sc.DiskFullDetail
		}
	}
	if m, err := r.caps.DelayMechanism(hasProxy); err == nil {
		c.LatencyMechanism = m
	} else {
		c.LatencyMechanism = "none"
		c.Notes = append(c.Notes, "latency faults unavailable: "+err.Error())
	}
	if m, err := r.caps.LossMechanism(); err == nil {
		c.LossMechanism = m
	}
	if !r.caps.Netem {
		reason := r.caps.Errors["netem"]
		if reason == "" {
			reason = "sch_netem missing"
		}
		c.Notes = append(c.Notes, fmt.Sprintf("kernel lacks netem (%s): latency via %s, loss via %s", reason, c.LatencyMechanism, c.LossMechanism))
	}
	if r.stack.Kind() != "containers" {
		c.GPU = ""
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
