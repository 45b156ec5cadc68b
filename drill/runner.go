// Package drill runs drill plans: it starts the components that watch the
// stack (the probe, monitoring, k6 load, the stop watcher), runs the steps
// (waits, faults, actions, awaits, reverts), reverts whatever is still in
// force, and builds the report. Plans are decoded and validated by
// drill/plan; the stack is opened by the caller.
package drill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/hostcaps"
	"github.com/aiuptime/aiuptime/internal/runlock"
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
)

// Sentinels a caller can branch on with errors.Is.
var (
	// ErrSLOBreached is returned when the drill ran but failed its SLOs or
	// a step's hypothesis.
	ErrSLOBreached = errors.New("drill failed its objectives")
	// ErrAborted is returned when a stop condition or a signal aborted the drill.
	ErrAborted = errors.New("drill aborted")
)

// Runner executes one plan against one stack.
type Runner struct {
	plan  *plan.Plan
	stack stack.Stack
	o     runOptions

	journal *chaos.Journal
	guard   *chaos.Guard
	kernel  hostcaps.Kernel
	lock    *runlock.Lock
	runID   string
	labels  map[string]string

	traffic   *traffic
	mon       *monitoring
	comps     *componentWatch
	svcProbes *serviceProbes
	shared    sync.Map

	mu       sync.Mutex
	current  string
	stepIdx  int
	started  time.Time
	held     map[string][]*heldFault // fault steps without duration, by step name
	windows  []reports.FaultWindow
	steps    []stepRecord
	outcomes []*ActionOutcome
}

type stepRecord struct {
	step      plan.Step
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

type runOptions struct {
	log       *slog.Logger
	stateDir  string
	dryRun    bool
	dryOut    io.Writer
	kernel    *hostcaps.Kernel
	toolVer   string
	stackName string
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

// WithKernel passes down the run's kernel capability probe (the one the
// stack was opened with); without it the runner probes itself.
func WithKernel(k hostcaps.Kernel) RunOption {
	return func(o *runOptions) error { o.kernel = &k; return nil }
}

// WithToolVersion records the tool's version in the report.
func WithToolVersion(v string) RunOption {
	return func(o *runOptions) error { o.toolVer = v; return nil }
}

// WithStackName records which stack the run drilled ("containers",
// "docker ollama-caddy.yaml"): trends group runs by plan and stack.
func WithStackName(name string) RunOption {
	return func(o *runOptions) error { o.stackName = name; return nil }
}

// NewRunner prepares a run of p against st. The plan must be validated.
func NewRunner(p *plan.Plan, st stack.Stack, opts ...RunOption) (*Runner, error) {
	o := runOptions{log: slog.New(slog.DiscardHandler), stopCheck: DefaultStopCheck}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.stateDir == "" {
		o.stateDir = chaos.StateDir()
	}
	return &Runner{plan: p, stack: st, o: o, held: map[string][]*heldFault{}}, nil
}

// Run executes the plan and returns the report: set-up, steps, revert,
// report. The error carries the exit code (exitcode.Error); nil means
// pass. The report is returned even with an error, whenever there is
// something to report.
func (r *Runner) Run(ctx context.Context) (*reports.Report, error) {
	r.started = time.Now()
	if r.o.dryRun {
		return nil, r.dryRun(ctx)
	}
	// The stack is known: no other drill may hurt it until this one ends.
	// A refusal (exit 2) changes nothing.
	if err := r.lockStack(); err != nil {
		return nil, err
	}
	defer r.lock.Release()
	load, err := r.setUp(ctx)
	if err != nil {
		r.abandon(load)
		// An unsafe state directory keeps its own code (2).
		return nil, exitcode.Wrap(exitcode.Of(err, exitcode.Harness), err)
	}
	versionsBefore, _ := stack.Versions(ctx, r.stack)

	// Whatever happens from here on, faults in force are reverted: on
	// success, failure, cancellation and panic.
	defer func() {
		if p := recover(); p != nil {
			_ = r.guard.RevertAll(context.WithoutCancel(ctx))
			panic(p)
		}
	}()
	stepsCtx, aborted := r.watch(ctx)
	stepErr := r.runSteps(stepsCtx)
	revertErr := r.revertAll(context.WithoutCancel(ctx))

	analysis, k6, loadErr := r.tearDown(load)
	stepErr = errors.Join(stepErr, loadErr)
	versionsAfter, _ := stack.Versions(context.WithoutCancel(ctx), r.stack)
	rep := r.buildReport(ctx, analysis, versionsBefore, versionsAfter)
	rep.K6 = k6
	return rep, r.verdict(rep, stepErr, revertErr, aborted(stepErr))
}

// lockStack takes the run lock of the stack (runlock: embedded stacks by
// run id, attached ones by compose project or selector) and names the
// run: the stack's run, or a fresh id for an attached deployment. A stack
// that cannot say what it is (plain URLs) cannot be hurt and is not locked.
func (r *Runner) lockStack() error {
	id, _ := stack.IdentityOf(r.stack)
	r.labels = id.Labels
	run, l, err := runlock.ForStack(r.o.stateDir, r.stack, "d", r.plan.Name)
	if err != nil {
		return err
	}
	r.runID, r.lock = run, l
	if l != nil {
		r.o.log.Info("stack locked", "stack", id.Text, "run", run, "lock", l.Path())
	}
	return nil
}

// RunID is the run's id: the embedded stack's, or for an attached
// deployment the one its journal records carry ("" before Run).
func (r *Runner) RunID() string { return r.runID }

// setUp probes the kernel (unless told), opens the journal and starts the
// components: traffic (the probe), monitoring and k6 load.
func (r *Runner) setUp(ctx context.Context) (*k6Load, error) {
	log := r.o.log
	if r.o.kernel != nil {
		r.kernel = *r.o.kernel
	} else if k, err := hostcaps.Probe(ctx); err != nil {
		log.Warn("kernel capability probe failed", "err", err)
		r.kernel = k
	} else {
		r.kernel = k
	}
	j, err := chaos.OpenJournal(chaos.WithStateDir(r.o.stateDir), chaos.WithLogger(log), chaos.WithRunLabels(r.runID, r.labels))
	if err != nil {
		return nil, fmt.Errorf("open revert journal: %w", err)
	}
	r.journal = j
	if cj, ok := r.stack.(stack.ChangeJournaler); ok {
		cj.SetChangeJournal(changeJournal(j))
	}
	if r.guard, err = chaos.NewGuard(chaos.WithLogger(log), chaos.WithStateDir(r.o.stateDir)); err != nil {
		return nil, fmt.Errorf("revert guard: %w", err)
	}
	pr, stop := r.plan.Defaults()
	if r.traffic, err = startTraffic(ctx, r.stack, pr, stop.Window.D(), r.plan.SLO, log); err != nil {
		return nil, err
	}
	r.comps = newComponentWatch(r.stack, r.plan, log)
	if r.svcProbes, err = startServiceProbes(ctx, r.stack, r.plan, log); err != nil {
		return nil, err
	}
	r.traffic.onEvent = r.svcProbes.event
	if m := r.plan.Monitoring; m != nil && (m.Prometheus == nil || *m.Prometheus) {
		if r.mon, err = startMonitoring(ctx, r.plan, r.stack, r.started, log); err != nil {
			return nil, err
		}
	}
	if r.plan.Load == nil {
		return nil, nil
	}
	return startLoad(ctx, r.plan, r.stack, r.traffic.target, log)
}

// watch returns the context the steps run under: cancelled by a stop
// condition, max_duration or the caller, and a function that names the
// abort (or "" when the steps were not aborted).
func (r *Runner) watch(ctx context.Context) (context.Context, func(error) string) {
	_, stop := r.plan.Defaults()
	stepsCtx, cancel := context.WithCancelCause(ctx)
	cancelTimeout := context.CancelFunc(func() {})
	if stop.MaxDuration > 0 {
		stepsCtx, cancelTimeout = context.WithTimeoutCause(stepsCtx, stop.MaxDuration.D(),
			&abortCause{reason: "max_duration " + stop.MaxDuration.String() + " exceeded"})
	}
	w := &stopWatch{window: r.traffic.window, started: r.started, every: r.o.stopCheck, stop: stop}
	w.Start(stepsCtx, cancel)
	return stepsCtx, func(stepErr error) string {
		w.Stop()
		defer cancel(nil)
		defer cancelTimeout()
		cause := context.Cause(stepsCtx)
		if cause == nil || stepErr == nil {
			return ""
		}
		var ac *abortCause
		switch {
		case errors.As(cause, &ac):
			return ac.reason
		case ctx.Err() != nil:
			return "signal: " + context.Cause(ctx).Error()
		}
		return ""
	}
}

// tearDown stops the probe, the direct watches of hurt services, the
// service probes and the k6 load, and returns what the probe and k6
// measured; monitoring stops when the report reads it.
func (r *Runner) tearDown(load *k6Load) (*uptime.Analysis, *reports.K6, error) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.comps.close() }()
	go func() { defer wg.Done(); r.svcProbes.stop() }()
	a := r.traffic.Stop()
	wg.Wait()
	if load == nil {
		return a, nil, nil
	}
	k6, err := load.Stop()
	if err != nil {
		r.o.log.Error("k6 load", "err", err)
	}
	return a, k6, err
}

// abandon stops whatever set-up started before it failed.
func (r *Runner) abandon(load *k6Load) {
	if load != nil {
		_, _ = load.Stop()
	}
	if r.mon != nil {
		r.mon.close()
	}
	r.comps.close()
	r.svcProbes.stop()
	if r.traffic != nil {
		r.traffic.Stop()
	}
}

// verdict sets the report's verdict and returns the run's error.
// The reason names every breached SLO and deviated step (verdictReason),
// after what broke when something did.
func (r *Runner) verdict(rep *reports.Report, stepErr, revertErr error, aborted string) error {
	switch {
	case revertErr != nil:
		rep.Verdict, rep.VerdictReason = reports.VerdictError, verdictReason("a revert failed: "+revertErr.Error(), rep)
		return exitcode.Wrap(exitcode.Revert, fmt.Errorf("revert failed (run `drill cleanup`, then `drill doctor`): %w", revertErr))
	case aborted != "":
		rep.Verdict, rep.VerdictReason = reports.VerdictAborted, verdictReason(aborted, rep)
		return exitcode.Wrap(exitcode.Aborted, fmt.Errorf("%w: %s", ErrAborted, aborted))
	case stepErr != nil:
		rep.Verdict, rep.VerdictReason = reports.VerdictError, verdictReason(stepErr.Error(), rep)
		return exitcode.Wrap(exitcode.Harness, stepErr)
	}
	if notMet := verdictReason("", rep); notMet != "" {
		rep.Verdict, rep.VerdictReason = reports.VerdictFail, notMet
		return exitcode.Wrap(exitcode.Fail, fmt.Errorf("%w: %s", ErrSLOBreached, notMet))
	}
	rep.Verdict, rep.VerdictReason = reports.VerdictPass, "every SLO met and every step as expected"
	return nil
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
	if r.traffic != nil {
		st := r.traffic.window.Stats(time.Now())
		p.Availability, p.Requests, p.P95, p.InOutage = st.Availability, st.Total, st.P95, st.InOutage
	}
	return p
}
