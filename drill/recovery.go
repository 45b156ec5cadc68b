package drill

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/param"
	"github.com/aiuptime/aiuptime/recovery"
	"github.com/aiuptime/aiuptime/stack"
)

// componentWatch watches each service a fault or a restore hurts directly,
// independently of the users' probe (package recovery): one watch per
// service at a time, from just before the step until the service has
// recovered. A step that hits a service already watched joins its watch,
// so an outage that spans several steps is one component outage.
type componentWatch struct {
	st   stack.Stack
	opts []recovery.Option
	rule recovery.Rule
	cfg  plan.Recovery
	log  *slog.Logger
	hc   *http.Client

	mu      sync.Mutex
	active  map[string]*recovery.Watch
	started []*recovery.Watch
	marks   []componentMark
	results map[*recovery.Watch]*recovery.Result
}

// componentMark is one step hurting one service.
type componentMark struct {
	step, kind, service string
	at                  time.Time
	watch               *recovery.Watch // nil when the service could not be watched
	note                string          // why not
}

// newComponentWatch prepares the watch of a plan's hurt services.
func newComponentWatch(st stack.Stack, p *plan.Plan, log *slog.Logger) *componentWatch {
	cfg := p.RecoveryDefaults()
	rule := recovery.Rule{Failures: cfg.Failures, Successes: cfg.Successes}
	opts := []recovery.Option{recovery.WithRule(rule), recovery.WithInterval(cfg.Interval.D()),
		recovery.WithCompletionTimeout(cfg.CompletionTimeout.D()), recovery.WithSettle(cfg.Settle.D()), recovery.WithLogger(log)}
	if _, stop := p.Defaults(); stop.MaxDuration > 0 {
		opts = append(opts, recovery.WithMaxWatch(stop.MaxDuration.D()))
	}
	return &componentWatch{st: st, opts: opts, rule: rule, cfg: cfg, log: log, hc: &http.Client{Timeout: 2 * time.Second},
		active: map[string]*recovery.Watch{}, results: map[*recovery.Watch]*recovery.Result{}}
}

// hurt records that step (of kind) is about to hurt service at at and
// returns the service's watch, started now unless one is still under way
// (nil when the service cannot be watched: the reason goes to the report).
// A held step (a fault in force until reverted, an action under way) keeps
// the watch going until release.
func (c *componentWatch) hurt(ctx context.Context, step, kind, service string, at time.Time, held bool) *recovery.Watch {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m := componentMark{step: step, kind: kind, service: service, at: at}
	if w := c.active[service]; w != nil && w.Mark(at, held) {
		m.watch = w
		c.marks = append(c.marks, m)
		return w
	}
	t, err := c.target(ctx, service)
	if err == nil {
		m.watch, err = recovery.Start(ctx, t, c.opts...)
	}
	if err != nil {
		m.note = "not watched: " + err.Error()
		c.log.Warn("cannot watch the service directly", "service", service, "step", step, "err", err)
		c.marks = append(c.marks, m)
		return nil
	}
	m.watch.Mark(at, held)
	c.active[service] = m.watch
	c.started = append(c.started, m.watch)
	c.marks = append(c.marks, m)
	return m.watch
}

// touch extends a watch's settle time from at (an injection that took a
// while, such as a restart).
func (c *componentWatch) touch(w *recovery.Watch, at time.Time) {
	if w != nil {
		w.Mark(at, false)
	}
}

// release ends a held step on w at at.
func (c *componentWatch) release(w *recovery.Watch, at time.Time) {
	if w != nil {
		w.Release(at)
	}
}

// close stops every watch (the ones under way end now, as ongoing if the
// service has not recovered) and keeps their results.
func (c *componentWatch) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	ws := append([]*recovery.Watch(nil), c.started...)
	c.active = map[string]*recovery.Watch{}
	c.mu.Unlock()
	res := make([]*recovery.Result, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Add(1)
		go func() { defer wg.Done(); res[i] = w.Stop() }()
	}
	wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, w := range ws {
		c.results[w] = res[i]
	}
}

// target describes service for a watch through the stack's capabilities.
func (c *componentWatch) target(ctx context.Context, service string) (recovery.Target, error) {
	svc, err := c.st.Service(ctx, service)
	if err != nil {
		return recovery.Target{}, err
	}
	if svc.Role != stack.RoleModel && svc.Role != stack.RoleGateway {
		return recovery.Target{}, fmt.Errorf("%s is a %s service: only model servers and the gateway are watched", service, svc.Role)
	}
	t := recovery.Target{Name: svc.Name, URL: svc.URL, HealthPath: svc.HealthPath, APIKey: keyFor(c.st, svc), Model: svc.ModelName}
	t.Resolve = movingURL(c.st, svc.Name)
	if t.Model == "" || svc.Role == stack.RoleGateway {
		t.Model = c.st.ModelName()
	}
	if pr, ok := c.st.(stack.Processes); ok {
		t.Processes = func(ctx context.Context) ([]recovery.Process, error) {
			ps, err := pr.Processes(ctx, service)
			return componentProcesses(ps), err
		}
	}
	if svc.Role == stack.RoleModel && svc.DeploymentID != "" {
		if gw, err := probeTarget(ctx, c.st, ""); err == nil && gw.URL != "" {
			t.Rotation = recovery.GatewayRotation(c.hc, gw.URL, c.st.APIKey(), svc.DeploymentID)
		}
	}
	return t, nil
}

// componentProcesses names processes by what they run (the first word of
// the command line) and tells them apart by host pid and start time.
func componentProcesses(ps []stack.Process) []recovery.Process {
	out := make([]recovery.Process, 0, len(ps))
	for _, p := range ps {
		name := "?"
		if f := strings.Fields(p.Cmdline); len(f) > 0 {
			name = f[0]
		}
		pid := p.HostPID
		if pid == 0 {
			pid = p.PID
		}
		running := p.State != "T" && p.State != "t" && p.State != "Z" && p.State != "X"
		out = append(out, recovery.Process{Name: name, ID: fmt.Sprintf("%d.%d", pid, p.Start), Running: running})
	}
	return out
}

// actionHurts lists the services an action step takes down and the stack
// restarts, to be watched: a restore restarts the services whose data it
// puts back. Rollouts replace services and report their own figures.
func (r *Runner) actionHurts(ctx context.Context, s plan.Step) []string {
	if s.Action != "restore" {
		return nil
	}
	if s.Target != nil {
		names, _ := r.pick(ctx, s.Target)
		return names
	}
	k, err := plan.LookupAction(s.Action)
	if err != nil {
		return nil
	}
	v, err := param.Decode(k.Name, k.Params, s.Params)
	if err != nil {
		return nil
	}
	svcs, err := r.stack.Services(ctx)
	if err != nil {
		return nil
	}
	only := v.String("only")
	var out []string
	for _, svc := range svcs {
		model := svc.Role == stack.RoleModel && (only == "" || only == "all" || only == "models")
		gateway := svc.Role == stack.RoleGateway && only != "models"
		if model || gateway {
			out = append(out, svc.Name)
		}
	}
	return out
}

// hurtByAction starts (or joins) the watches of the services an action
// step takes down; releaseAll ends them when the action is over.
func (r *Runner) hurtByAction(ctx context.Context, s plan.Step, at time.Time) []*recovery.Watch {
	var ws []*recovery.Watch
	for _, name := range r.actionHurts(ctx, s) {
		ws = append(ws, r.comps.hurt(ctx, s.Name, "action:"+s.Action, name, at, true))
	}
	return ws
}

// releaseAll releases the watches hurtByAction returned.
func (r *Runner) releaseAll(ws []*recovery.Watch, at time.Time) {
	for _, w := range ws {
		r.comps.release(w, at)
	}
}
