package drill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/client"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/faults"
	"github.com/aiuptime/aiuptime/chaos/network"
	"github.com/aiuptime/aiuptime/probe"
	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/uptime"
)

// Defaults of the runner.
const (
	// DefaultStopCheck is how often stop conditions are evaluated.
	DefaultStopCheck = 250 * time.Millisecond
	// DefaultAwaitPoll is how often an await step re-checks its condition.
	DefaultAwaitPoll = 100 * time.Millisecond
	// DefaultTimelineBuckets is roughly how many buckets the report's
	// timeline has.
	DefaultTimelineBuckets = 240
	// minStopSamples is how many results a stop window needs before it can
	// abort a drill, so one early failure cannot.
	minStopSamples = 10
)

// Runner executes one plan against one stack.
type Runner struct {
	plan  *Plan
	stack stack.Stack
	o     runOptions

	journal *chaos.Journal
	guard   *chaos.Guard
	docker  *client.Client
	caps    network.Capabilities

	analyzer *uptime.Analyzer
	window   *uptime.Window
	traffic  *TrafficLog
	shared   sync.Map
	mon      *monitoring

	mu       sync.Mutex
	current  string
	stepIdx  int
	started  time.Time
	held     map[string][]*heldFault // fault steps without duration, by step name
	windows  []reports.FaultWindow
	steps    []stepRecord
	outcomes []*ActionOutcome
}

type heldFault struct {
	inj    *chaos.Injection
	target string
	start  time.Time
	kind   string
}

type stepRecord struct {
	step      Step
	kind      string
	target    string
	start     time.Time
	end       time.Time
	impactEnd time.Time // when the step's fault was reverted (faults)
	status    string
	err       string
	mechanism string
	detail    string
}

// Progress is a snapshot of a running drill for live views.
type Progress struct {
	Step         string
	StepIndex    int // 1-based
	Steps        int
	Elapsed      time.Duration
	Availability float64 // over the stop window; 1 when empty
	Requests     int
	P95          time.Duration
	InOutage     bool
	Faults       []string // "step (target)" of faults in force
}

type runOptions struct {
	log       *slog.Logger
	stateDir  string
	dryRun    bool
	dryOut    io.Writer
	docker    *client.Client
	toolVer   string
	secrets   []string
	stopCheck time.Duration
}

// RunOption configures a Runner.
type RunOption func(*runOptions) error

// WithRunLogger sets the structured logger.
func WithRunLogger(l *slog.Logger) RunOption {
	return func(o *runOptions) error { o.log = l; return nil }
}

// WithStateDir sets the state dir holding the revert journal.
func WithStateDir(dir string) RunOption {
	return func(o *runOptions) error { o.stateDir = dir; return nil }
}

// WithDryRun makes fault steps print exactly what they would do to w and
// change nothing; waits and awaits are skipped.
func WithDryRun(w io.Writer) RunOption {
	return func(o *runOptions) error { o.dryRun, o.dryOut = true, w; return nil }
}

// WithDocker sets the Docker client used by faults and actions (nil for an
// endpoints stack).
func WithDocker(c *client.Client) RunOption {
	return func(o *runOptions) error { o.docker = c; return nil }
}

// WithToolVersion records the tool's version in the report.
func WithToolVersion(v string) RunOption {
	return func(o *runOptions) error { o.toolVer = v; return nil }
}

// NewRunner prepares a run of plan against st. The plan must be validated.
func NewRunner(plan *Plan, st stack.Stack, opts ...RunOption) (*Runner, error) {
	o := runOptions{log: slog.New(slog.DiscardHandler), stopCheck: DefaultStopCheck}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.stateDir == "" {
		o.stateDir = chaos.StateDir()
	}
	r := &Runner{plan: plan, stack: st, o: o, docker: o.docker, held: map[string][]*heldFault{}}
	return r, nil
}

// Progress returns a snapshot for a live view.
func (r *Runner) Progress() Progress {
	r.mu.Lock()
	p := Progress{Step: r.current, StepIndex: r.stepIdx, Steps: len(r.plan.Steps)}
	if !r.started.IsZero() {
		p.Elapsed = time.Since(r.started)
	}
	for name, hs := range r.held {
		for _, h := range hs {
			p.Faults = append(p.Faults, fmt.Sprintf("%s (%s)", name, h.target))
		}
	}
	r.mu.Unlock()
	sort.Strings(p.Faults)
	if r.window != nil {
		st := r.window.Stats(time.Now())
		p.Availability, p.Requests, p.P95, p.InOutage = st.Availability, st.Total, st.P95, st.InOutage
	}
	return p
}

// abortCause is the cancellation cause of a stop condition.
type abortCause struct{ reason string }

func (a *abortCause) Error() string { return "stop condition: " + a.reason }

// Run executes the plan and returns the report. The error carries the exit
// code (ExitError): nil means pass. The report is returned even with an
// error, whenever there is something to report.
func (r *Runner) Run(ctx context.Context) (rep *reports.Report, err error) {
	log := r.o.log
	r.started = time.Now()
	pr, stop := r.plan.Defaults()

	if r.o.dryRun {
		return nil, r.dryRun(ctx)
	}

	caps, cerr := network.ProbeOnce(ctx)
	if cerr != nil {
		log.Warn("capability probe failed", "err", cerr)
	}
	r.caps = caps

	j, err := chaos.OpenJournal(chaos.WithStateDir(r.o.stateDir), chaos.WithLogger(log))
	if err != nil {
		return nil, exitErr(ExitHarness, fmt.Errorf("open revert journal: %w", err))
	}
	r.journal = j
	g, err := chaos.NewGuard(chaos.WithLogger(log), chaos.WithStateDir(r.o.stateDir))
	if err != nil {
		return nil, exitErr(ExitHarness, fmt.Errorf("revert guard: %w", err))
	}
	r.guard = g

	// Whatever happens from here on, faults in force are reverted: on
	// success, failure, cancellation and panic.
	var revertErr error
	defer func() {
		if p := recover(); p != nil {
			_ = r.guard.RevertAll(context.WithoutCancel(ctx))
			panic(p)
		}
	}()

	versionsBefore, _ := stack.Versions(ctx, r.stack)

	spec := r.plan.SLOSpec()
	var aopts []uptime.Option
	if spec.Goodput != nil {
		aopts = append(aopts, uptime.WithGoodput(spec.GoodputCriteria()))
	}
	an, err := uptime.NewAnalyzer(aopts...)
	if err != nil {
		return nil, exitErr(ExitHarness, err)
	}
	r.analyzer = an
	win, err := uptime.NewWindow(stop.Window.D())
	if err != nil {
		return nil, exitErr(ExitHarness, err)
	}
	r.window = win
	r.traffic = NewTrafficLog(DefaultTrafficCap)

	target, err := r.probeTarget(ctx, pr)
	if err != nil {
		return nil, exitErr(ExitHarness, err)
	}
	if err := preflight(ctx, target); err != nil {
		return nil, exitErr(ExitHarness, err)
	}
	mode, err := probe.ParseMode(pr.Mode)
	if err != nil {
		return nil, exitErr(ExitUsage, fmt.Errorf("probe.mode: %w", err))
	}
	popts := []probe.Option{
		probe.WithMode(mode), probe.WithInterval(pr.Interval.D()), probe.WithTimeout(pr.Timeout.D()),
		probe.WithMaxTokens(pr.MaxTokens), probe.WithModel(r.stack.ModelName()), probe.WithLogger(log),
		probe.WithHealthPath(target.HealthPath),
	}
	if key := r.probeKey(target); key != "" {
		popts = append(popts, probe.WithAPIKey(key))
	}
	pb, err := probe.New(target.URL, popts...)
	if err != nil {
		return nil, exitErr(ExitHarness, fmt.Errorf("probe: %w", err))
	}
	probeCtx, stopProbe := context.WithCancel(context.WithoutCancel(ctx))
	defer stopProbe()
	results, err := pb.Start(probeCtx)
	if err != nil {
		return nil, exitErr(ExitHarness, fmt.Errorf("start probe: %w", err))
	}
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for res := range results {
			r.analyzer.Add(res)
			r.window.Add(res)
			r.traffic.Add(res)
		}
	}()

	if m := r.plan.Monitoring; m != nil && (m.Prometheus == nil || *m.Prometheus) {
		mon, err := r.startMonitoring(ctx, log)
		if err != nil {
			pb.Stop()
			<-consumed
			return nil, exitErr(ExitHarness, err)
		}
		r.mon = mon
		defer mon.close()
		monCtx, stopMon := context.WithCancel(context.WithoutCancel(ctx))
		defer stopMon()
		mon.stopLatency = stopMon
		go mon.addLatencyRules(monCtx, log)
	}

	var load *k6Load
	loadCtx, stopLoad := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLoad()
	if r.plan.Load != nil {
		load, err = r.startLoad(loadCtx, log, target, r.probeKey(target))
		if err != nil {
			pb.Stop()
			<-consumed
			return nil, exitErr(ExitHarness, err)
		}
	}

	stepsCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if stop.MaxDuration > 0 {
		var cancelT context.CancelFunc
		stepsCtx, cancelT = context.WithTimeoutCause(stepsCtx, stop.MaxDuration.D(),
			&abortCause{reason: "max_duration " + stop.MaxDuration.String() + " exceeded"})
		defer cancelT()
	}
	go r.watchStop(stepsCtx, cancel, stop)

	stepErr := r.runSteps(stepsCtx, log)

	// Revert whatever is still in force, even after Ctrl-C.
	revertErr = r.revertAll(context.WithoutCancel(ctx), log)
	pb.Stop()
	stopProbe()
	<-consumed
	analysis := r.analyzer.Close()
	var k6 *reports.K6
	if load != nil {
		stopLoad()
		var lerr error
		if k6, lerr = load.finish(); lerr != nil {
			log.Error("k6 load", "err", lerr)
			stepErr = errors.Join(stepErr, lerr)
		}
	}

	versionsAfter, _ := stack.Versions(context.WithoutCancel(ctx), r.stack)

	aborted := ""
	if cause := context.Cause(stepsCtx); cause != nil && stepErr != nil {
		var ac *abortCause
		switch {
		case errors.As(cause, &ac):
			aborted = ac.reason
		case ctx.Err() != nil:
			aborted = "signal: " + context.Cause(ctx).Error()
		}
	}
	rep, _, sloErr := r.buildReport(analysis, versionsBefore, versionsAfter)
	rep.K6 = k6
	if r.mon != nil {
		alerts, view, notes := r.mon.finish(context.WithoutCancel(ctx), analysis.Start, analysis.End, analysis.Events, r.plan)
		rep.Alerts, rep.SLOPrometheus = alerts, view
		rep.Capabilities.Prometheus = true
		rep.Capabilities.Notes = append(rep.Capabilities.Notes, notes...)
		checkExpectedAlerts(rep, r.plan)
	}
	if sloErr != nil {
		log.Warn("slo evaluation", "err", sloErr)
	}
	return rep, r.verdict(rep, stepErr, revertErr, aborted)
}

// verdict sets the report's verdict and returns the run's error.
func (r *Runner) verdict(rep *reports.Report, stepErr, revertErr error, aborted string) error {
	switch {
	case revertErr != nil:
		rep.Verdict, rep.VerdictReason = reports.VerdictError, "a revert failed: "+revertErr.Error()
		return exitErr(ExitRevert, fmt.Errorf("revert failed (run `drill cleanup`, then `drill doctor`): %w", revertErr))
	case aborted != "":
		rep.Verdict, rep.VerdictReason = reports.VerdictAborted, aborted
		return exitErr(ExitAborted, fmt.Errorf("%w: %s", ErrAborted, aborted))
	case stepErr != nil:
		rep.Verdict, rep.VerdictReason = reports.VerdictError, stepErr.Error()
		return exitErr(ExitHarness, stepErr)
	}
	var bad []string
	for _, s := range rep.SLO {
		if !s.Compliant {
			bad = append(bad, "SLO "+s.Name)
		}
	}
	for _, s := range rep.Steps {
		if s.Status == reports.StatusFailed {
			bad = append(bad, "step "+s.Name)
		}
	}
	if len(bad) > 0 {
		rep.Verdict, rep.VerdictReason = reports.VerdictFail, "not met: "+strings.Join(bad, ", ")
		return exitErr(ExitFail, fmt.Errorf("%w: %s", ErrSLOBreached, strings.Join(bad, ", ")))
	}
	rep.Verdict, rep.VerdictReason = reports.VerdictPass, "every SLO met and every step as expected"
	return nil
}

// probeTarget resolves the probe's target service.
func (r *Runner) probeTarget(ctx context.Context, pr Probe) (stack.Service, error) {
	if pr.Target == "" || pr.Target == string(stack.RoleGateway) {
		svcs, err := r.stack.Services(ctx)
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
	s, err := r.stack.Service(ctx, pr.Target)
	if err != nil {
		return stack.Service{}, fmt.Errorf("probe.target %q: %w", pr.Target, err)
	}
	return s, nil
}

// DefaultPreflight bounds how long the probe target may take to answer its
// health check before the drill starts.
const DefaultPreflight = 10 * time.Second

// preflight checks that the probe's target answers at all before anything
// is measured or injected: an unreachable stack is a harness error, not an
// outage.
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
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+path, nil)
		if err != nil {
			return fmt.Errorf("probe target %s: %w", s.Name, err)
		}
		resp, err := hc.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
			err = fmt.Errorf("%s answers %d", path, resp.StatusCode)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("stack unreachable: %s at %s: %w", s.Name, s.URL, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// probeKey is the API key for the probe's target (never logged).
func (r *Runner) probeKey(t stack.Service) string {
	if t.Role == stack.RoleModel {
		if mk, ok := r.stack.(interface{ ModelAPIKey() string }); ok {
			return mk.ModelAPIKey()
		}
		return ""
	}
	return r.stack.APIKey()
}

// watchStop aborts the drill when a stop condition is breached.
func (r *Runner) watchStop(ctx context.Context, cancel context.CancelCauseFunc, stop Stop) {
	if stop.AvailabilityBelow == nil {
		return
	}
	limit := stop.AvailabilityBelow.Fraction()
	width := stop.Window.D()
	t := time.NewTicker(r.o.stopCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if now.Sub(r.started) < width {
				continue
			}
			st := r.window.Stats(now)
			if st.Total >= minStopSamples && st.Availability < limit {
				cancel(&abortCause{reason: fmt.Sprintf("availability %.1f%% over the last %s is below %.1f%%",
					st.Availability*100, width, limit*100)})
				return
			}
		}
	}
}

// runSteps executes the steps in order. It returns a harness error, or the
// cancellation cause when aborted.
func (r *Runner) runSteps(ctx context.Context, log *slog.Logger) error {
	for i, s := range r.plan.Steps {
		if ctx.Err() != nil {
			r.skipFrom(i)
			return context.Cause(ctx)
		}
		r.mu.Lock()
		r.current, r.stepIdx = s.Name, i+1
		r.mu.Unlock()
		rec := stepRecord{step: s, kind: s.Kind(), start: time.Now(), status: reports.StatusPassed}
		if s.Target != nil {
			rec.target = s.Target.String()
		}
		r.event(uptime.Event{At: rec.start, Kind: uptime.StepStarted, Step: s.Name, Target: rec.target})
		log.Info("step", "n", i+1, "of", len(r.plan.Steps), "name", s.Name, "kind", rec.kind)
		err := r.runStep(ctx, log, s, &rec)
		rec.end = time.Now()
		if rec.impactEnd.IsZero() {
			rec.impactEnd = rec.end
		}
		r.event(uptime.Event{At: rec.end, Kind: uptime.StepFinished, Step: s.Name, Target: rec.target, Detail: rec.status})
		if rec.status == reports.StatusFailed {
			log.Warn("step deviated", "name", s.Name, "reason", rec.err)
		} else if rec.detail != "" {
			log.Info("step done", "name", s.Name, "status", rec.status, "detail", rec.detail, "took", rec.end.Sub(rec.start).Round(time.Millisecond))
		}
		if err != nil {
			if ctx.Err() != nil {
				rec.status, rec.err = reports.StatusSkipped, "aborted: "+context.Cause(ctx).Error()
				r.record(rec)
				r.skipFrom(i + 1)
				return context.Cause(ctx)
			}
			rec.status, rec.err = reports.StatusError, err.Error()
			r.record(rec)
			log.Error("step broke", "name", s.Name, "err", err)
			r.skipFrom(i + 1)
			return fmt.Errorf("step %q: %w", s.Name, err)
		}
		r.record(rec)
	}
	return nil
}

func (r *Runner) record(rec stepRecord) {
	r.mu.Lock()
	r.steps = append(r.steps, rec)
	r.mu.Unlock()
}

func (r *Runner) skipFrom(i int) {
	now := time.Now()
	for _, s := range r.plan.Steps[i:] {
		rec := stepRecord{step: s, kind: s.Kind(), start: now, end: now, status: reports.StatusSkipped, err: "not run"}
		if s.Target != nil {
			rec.target = s.Target.String()
		}
		r.record(rec)
	}
}

func (r *Runner) event(e uptime.Event) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	r.analyzer.AddEvent(e)
}

// runStep executes one step; a timed-out await or a deviation sets
// rec.status to failed without returning an error.
func (r *Runner) runStep(ctx context.Context, log *slog.Logger, s Step, rec *stepRecord) error {
	switch rec.kind {
	case StepWait:
		return sleep(ctx, s.Wait.D())
	case StepFault:
		return r.runFault(ctx, log, s, rec)
	case StepRevert:
		return r.revertStep(context.WithoutCancel(ctx), s.Revert, rec)
	case StepAwait:
		return r.runAwait(ctx, s, rec)
	case StepAction:
		return r.runAction(ctx, log, s, rec)
	}
	return fmt.Errorf("unknown step kind %q", rec.kind)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// faultEnv is what fault construction needs.
func (r *Runner) faultEnv(dry bool) faults.Env {
	return faults.Env{Stack: r.stack, Docker: r.docker, Caps: r.caps, Log: r.o.log, DryRun: dry, Out: r.o.dryOut, Journal: r.journal}
}

// selector turns a step's target into the chaos selector.
func selector(t *Target) chaos.Selector {
	if t == nil {
		return chaos.Selector{}
	}
	if len(t.Names) > 0 {
		return chaos.Selector{Names: t.Names}
	}
	pct := t.Percent
	if pct == 0 {
		pct = 100
	}
	return chaos.Selector{Role: stack.Role(t.Role), Fraction: float64(pct) / 100}
}

func (r *Runner) runFault(ctx context.Context, log *slog.Logger, s Step, rec *stepRecord) error {
	fs, err := faults.BuildSelected(ctx, s.Fault, s.Params, selector(s.Target), r.faultEnv(false))
	if err != nil {
		return fmt.Errorf("build %s: %w", s.Fault, err)
	}
	var held []*heldFault
	var mechs []string
	for _, f := range fs {
		inj, err := r.guard.Inject(ctx, f)
		tgt := faultTarget(f)
		if inj != nil {
			held = append(held, &heldFault{inj: inj, target: tgt, start: time.Now(), kind: s.Fault})
			mechs = append(mechs, inj.Mechanism)
		}
		if err != nil {
			r.hold(s.Name, held)
			return fmt.Errorf("inject %s on %s: %w", s.Fault, tgt, err)
		}
		detail := inj.Mechanism
		r.event(uptime.Event{Kind: uptime.FaultInjected, Step: s.Name, Target: tgt, Detail: detail})
		log.Info("fault injected", "kind", s.Fault, "target", tgt, "mechanism", inj.Mechanism, "took", inj.Injected)
	}
	rec.mechanism = strings.Join(uniq(mechs), ",")
	if instantFaults[s.Fault] {
		// Done the moment it is applied (a signal, a restart): nothing stays
		// in force, so it is a marker on the timeline, not a window.
		return r.revertHeld(context.WithoutCancel(ctx), s.Name, held)
	}
	r.hold(s.Name, held)
	if s.Duration == 0 {
		return nil
	}
	werr := sleep(ctx, s.Duration.D())
	r.mu.Lock()
	delete(r.held, s.Name)
	r.mu.Unlock()
	rerr := r.revertHeld(context.WithoutCancel(ctx), s.Name, held)
	rec.impactEnd = time.Now()
	if rerr != nil {
		return rerr
	}
	return werr
}

// instantFaults act once and leave nothing in force to revert: what
// follows (failover, restart, reload) is the stack's own recovery.
var instantFaults = map[string]bool{"gpu-kill": true, "container-kill": true, "container-restart": true}

func faultTarget(f chaos.Fault) string {
	if t, ok := f.(interface{ Target() string }); ok {
		return t.Target()
	}
	return f.Name()
}

func uniq(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func (r *Runner) hold(step string, hs []*heldFault) {
	if len(hs) == 0 {
		return
	}
	r.mu.Lock()
	r.held[step] = append(r.held[step], hs...)
	r.mu.Unlock()
}

// revertHeld reverts injections of one step and records their windows.
func (r *Runner) revertHeld(ctx context.Context, step string, hs []*heldFault) error {
	var errs []error
	for _, h := range hs {
		err := h.inj.Revert(ctx)
		end := time.Now()
		r.mu.Lock()
		r.windows = append(r.windows, reports.FaultWindow{Step: step, Kind: h.kind, Target: h.target, Start: h.start, End: end})
		r.mu.Unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("revert %s on %s: %w", h.kind, h.target, err))
			continue
		}
		r.event(uptime.Event{At: end, Kind: uptime.FaultReverted, Step: step, Target: h.target, Detail: h.inj.Mechanism})
	}
	return errors.Join(errs...)
}

// revertStep reverts the faults a named earlier step left in force.
func (r *Runner) revertStep(ctx context.Context, name string, rec *stepRecord) error {
	r.mu.Lock()
	hs := r.held[name]
	delete(r.held, name)
	r.mu.Unlock()
	if len(hs) == 0 {
		rec.detail = "nothing in force"
		return nil
	}
	err := r.revertHeld(ctx, name, hs)
	// The reverted fault's impact ends here.
	r.mu.Lock()
	for i := range r.steps {
		if r.steps[i].step.Name == name {
			r.steps[i].impactEnd = time.Now()
		}
	}
	r.mu.Unlock()
	return err
}

// revertAll reverts every fault still held, then asks the guard for
// anything it still holds (a half-applied injection).
func (r *Runner) revertAll(ctx context.Context, log *slog.Logger) error {
	r.mu.Lock()
	names := make([]string, 0, len(r.held))
	for n := range r.held {
		names = append(names, n)
	}
	r.mu.Unlock()
	var errs []error
	for _, n := range names {
		var rec stepRecord
		if err := r.revertStep(ctx, n, &rec); err != nil {
			errs = append(errs, err)
		}
	}
	if r.guard != nil {
		if err := r.guard.RevertAll(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		log.Error("revert failed", "err", err)
		return err
	}
	return nil
}

// runAwait blocks until the step's condition holds or its timeout passes;
// a timeout marks the step failed.
func (r *Runner) runAwait(ctx context.Context, s Step, rec *stepRecord) error {
	timeout := s.Timeout.D()
	deadline := time.Now().Add(timeout)
	since := time.Now()
	switch s.Await.Kind {
	case AwaitAlertFiring, AwaitAlertResolved, AwaitCondition:
		if r.mon == nil {
			return fmt.Errorf("await %s needs the plan's monitoring block", s.Await.String())
		}
		ok, detail, err := r.mon.await(ctx, s.Await, timeout)
		if err != nil {
			return err
		}
		if !ok {
			rec.status, rec.err = reports.StatusFailed, detail
		}
		rec.detail = detail
		return nil
	}
	check, err := r.awaitCheck(s)
	if err != nil {
		return err
	}
	// "healthy" must hold for a few polls in a row: right after a fault the
	// target may still answer from before it noticed (an engine killed a
	// millisecond ago), and that is not a recovery.
	need, streak := 1, 0
	if s.Await.Kind == AwaitHealthy {
		need = healthyStreak
	}
	t := time.NewTicker(DefaultAwaitPoll)
	defer t.Stop()
	var last string
	for {
		ok, why := check(ctx, since)
		if ok {
			if streak++; streak >= need {
				rec.detail = why
				return nil
			}
		} else {
			streak = 0
		}
		last = why
		if time.Now().After(deadline) {
			rec.status = reports.StatusFailed
			rec.err = fmt.Sprintf("%s not reached within %s: %s", s.Await.String(), timeout, last)
			return nil
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-t.C:
		}
	}
}

// healthyStreak is how many polls in a row "await: healthy" must see.
const healthyStreak = 3

type awaitFunc func(ctx context.Context, since time.Time) (bool, string)

func (r *Runner) awaitCheck(s Step) (awaitFunc, error) {
	switch s.Await.Kind {
	case AwaitRecovered:
		need := uptime.DefaultRecoveryThreshold
		return func(_ context.Context, since time.Time) (bool, string) {
			st := r.window.Stats(time.Now())
			if st.InOutage {
				return false, fmt.Sprintf("in an outage since %s", st.OutageSince.Format(time.RFC3339Nano))
			}
			if !st.StreakGood || st.Streak < need || st.LastResult.Before(since) {
				return false, fmt.Sprintf("%d consecutive good requests of %d", goodStreak(st), need)
			}
			return true, fmt.Sprintf("%d consecutive good requests", st.Streak)
		}, nil
	case AwaitHealthy:
		hc := &http.Client{Timeout: 2 * time.Second}
		return func(ctx context.Context, _ time.Time) (bool, string) {
			return r.allHealthy(ctx, hc, s.Target)
		}, nil
	}
	return nil, fmt.Errorf("await %s: %w", s.Await.String(), stack.ErrUnsupported)
}

func goodStreak(st uptime.WindowStats) int {
	if st.StreakGood {
		return st.Streak
	}
	return 0
}

// allHealthy checks the health endpoint of the targeted services (default:
// every gateway and model service).
func (r *Runner) allHealthy(ctx context.Context, hc *http.Client, t *Target) (bool, string) {
	var svcs []stack.Service
	var err error
	if t != nil {
		svcs, err = selector(t).Select(ctx, r.stack)
	} else {
		svcs, err = r.stack.Services(ctx)
	}
	if err != nil {
		return false, err.Error()
	}
	for _, s := range svcs {
		if s.Role != stack.RoleGateway && s.Role != stack.RoleModel {
			continue
		}
		if s.URL == "" || s.HealthPath == "" {
			continue
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+s.HealthPath, nil)
		if err != nil {
			return false, err.Error()
		}
		resp, err := hc.Do(req)
		if err != nil {
			return false, fmt.Sprintf("%s: %v", s.Name, err)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Sprintf("%s: %s answers %d", s.Name, s.HealthPath, resp.StatusCode)
		}
	}
	// Healthy also means back in rotation: the gateway's own last request
	// to it succeeded (litellm_deployment_state 0). A model server the
	// gateway is cooling down, or reaches only over connections left stuck
	// by a healed partition, serves nobody, and the next fault would find
	// no deployment to fail over to.
	if states := r.deploymentStates(ctx, hc); states != nil {
		for _, s := range svcs {
			if s.Role != stack.RoleModel || s.DeploymentID == "" {
				continue
			}
			if v, ok := states[s.DeploymentID]; ok && v != 0 {
				return false, fmt.Sprintf("%s: not back in the gateway's rotation (litellm_deployment_state %g)", s.Name, v)
			}
		}
	}
	return true, "every service healthy and in rotation"
}

// deploymentStates reads litellm_deployment_state by model_id from the
// gateway's /metrics (LiteLLM: 0 healthy, 1 partial outage, 2 cooling
// down). nil when the gateway exposes no such metric.
func (r *Runner) deploymentStates(ctx context.Context, hc *http.Client) map[string]float64 {
	svcs, err := r.stack.Services(ctx)
	if err != nil {
		return nil
	}
	for _, gw := range svcs {
		if gw.Role != stack.RoleGateway || gw.URL == "" {
			continue
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, gw.URL+"/metrics", nil)
		if err != nil {
			return nil
		}
		if key := r.stack.APIKey(); key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil
		}
		fams, err := parseMetrics(resp.Body)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return nil
		}
		fam, ok := fams["litellm_deployment_state"]
		if !ok {
			return nil
		}
		out := map[string]float64{}
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "model_id" && m.GetGauge() != nil {
					out[l.GetValue()] = max(out[l.GetValue()], m.GetGauge().GetValue())
				}
			}
		}
		return out
	}
	return nil
}

func (r *Runner) runAction(ctx context.Context, log *slog.Logger, s Step, rec *stepRecord) error {
	a, ok := LookupAction(s.Action)
	if !ok {
		return fmt.Errorf("action %q: no implementation in this build", s.Action)
	}
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Timeout.D())
		defer cancel()
	}
	r.event(uptime.Event{Kind: uptime.ActionStarted, Step: s.Name, Target: rec.target, Detail: s.Action})
	env := &ActionEnv{Plan: r.plan, Stack: r.stack, Docker: r.docker, Log: log.With("action", s.Action),
		Traffic: r.traffic, Event: r.event, StateDir: r.o.stateDir, Shared: &r.shared}
	out, err := a.Run(ctx, env, s)
	r.event(uptime.Event{Kind: uptime.ActionDone, Step: s.Name, Target: rec.target, Detail: s.Action})
	if out != nil {
		rec.detail = out.Detail
		if out.Failed {
			rec.status, rec.err = reports.StatusFailed, out.Detail
		}
		r.mu.Lock()
		r.outcomes = append(r.outcomes, out)
		r.mu.Unlock()
	}
	return err
}
