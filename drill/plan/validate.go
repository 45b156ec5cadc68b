package plan

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/aiuptime/aiuptime/chaos"
	_ "github.com/aiuptime/aiuptime/chaos/kinds" // every fault kind, for validation
	"github.com/aiuptime/aiuptime/internal/yamldoc"
	"github.com/aiuptime/aiuptime/param"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/units"
)

// Step kinds, as Step.Kind returns them.
const (
	StepWait   = "wait"
	StepFault  = "fault"
	StepAction = "action"
	StepAwait  = "await"
	StepRevert = "revert"
)

// Defaults applied by Plan.Defaults and documented in the schema.
const (
	DefaultProbeInterval = 100 * time.Millisecond
	DefaultProbeTimeout  = 10 * time.Second
	DefaultProbeMode     = ProbeChat
	DefaultProbeTarget   = "gateway"
	DefaultMaxTokens     = 16
	DefaultStopWindow    = 10 * time.Second
	DefaultStack         = "embedded"
)

// DefaultStreamEvery streams 1 in 10 requests of a chat probe: at the
// shipped plans' 20 requests/s that is 2 TTFT samples a second (over 100 in
// a minute-long drill, enough for a p95), while 9 in 10 stay the plain
// completion the chat mode is for. Streaming is on by default because a
// drill's report is expected to hold TTFT, ITL and TPOT; stream_every: 0
// turns it off.
const DefaultStreamEvery = 10

// Kind returns which of wait, fault, action, await or revert the step is
// ("" when none is set, which validation rejects).
func (s Step) Kind() string {
	switch {
	case s.Fault != "":
		return StepFault
	case s.Action != "":
		return StepAction
	case s.Await != nil:
		return StepAwait
	case s.Revert != "":
		return StepRevert
	case s.Wait != 0:
		return StepWait
	}
	return ""
}

// Embedded reports whether the plan runs on the embedded stack.
func (p *Plan) Embedded() bool { return p.Stack == "" || p.Stack == DefaultStack }

// StackFile returns the stack file's path resolved against the plan's
// directory ("" for the embedded stack).
func (p *Plan) StackFile() string {
	if p.Embedded() {
		return ""
	}
	return p.resolve(p.Stack)
}

// LoadScript returns the k6 script's path resolved against the plan's directory.
func (p *Plan) LoadScript() string {
	if p.Load == nil || p.Load.K6 == "" {
		return ""
	}
	return p.resolve(p.Load.K6)
}

func (p *Plan) resolve(rel string) string {
	if filepath.IsAbs(rel) || p.File == "" {
		return rel
	}
	return filepath.Join(filepath.Dir(p.File), rel)
}

// Defaults returns a copy of the probe and stop settings with defaults filled in.
func (p *Plan) Defaults() (Probe, Stop) {
	pr, st := p.Probe, p.Stop
	if pr.Interval == 0 {
		pr.Interval = units.Duration(DefaultProbeInterval)
	}
	if pr.Timeout == 0 {
		pr.Timeout = units.Duration(DefaultProbeTimeout)
	}
	if pr.Mode == "" {
		pr.Mode = DefaultProbeMode
	}
	if pr.Target == "" {
		pr.Target = DefaultProbeTarget
	}
	if pr.MaxTokens == 0 {
		pr.MaxTokens = DefaultMaxTokens
	}
	if pr.StreamEvery == nil && pr.Mode == ProbeChat {
		n := DefaultStreamEvery
		pr.StreamEvery = &n
	}
	if st.Window == 0 {
		st.Window = units.Duration(DefaultStopWindow)
	}
	return pr, st
}

// Step returns the step with the given name.
func (p *Plan) Step(name string) (Step, bool) {
	for _, s := range p.Steps {
		if s.Name == name {
			return s, true
		}
	}
	return Step{}, false
}

// RevertedBy returns the name of the step that reverts the fault of step
// name, or "" when the fault reverts by duration or at the drill's end.
func (p *Plan) RevertedBy(name string) string {
	for _, s := range p.Steps {
		if s.Revert == name {
			return s.Name
		}
	}
	return ""
}

var planNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// path builds a field path.
func path(seg ...any) yamldoc.Path { return yamldoc.Path(seg) }

// checker collects a plan's problems.
type checker struct {
	p    *Plan
	errs Errors
}

func (c *checker) bad(at yamldoc.Path, format string, args ...any) {
	c.errs = append(c.errs, c.p.errorf(at, false, format, args...))
}

func (c *checker) badKey(at yamldoc.Path, format string, args ...any) {
	c.errs = append(c.errs, c.p.errorf(at, true, format, args...))
}

func (c *checker) positive(at yamldoc.Path, d units.Duration) {
	if d < 0 {
		c.bad(at, "must be positive, got %s", d)
	}
}

func (c *checker) fraction(at yamldoc.Path, v *units.Percent) {
	if v != nil && *v == 0 {
		c.bad(at, "0%% is no threshold: want more than 0")
	}
}

func (p *Plan) validate() Errors {
	c := &checker{p: p}
	switch {
	case p.Name == "":
		c.badKey(path("name"), "required")
	case !planNameRE.MatchString(p.Name):
		c.bad(path("name"), "%q: use letters, digits, '.', '_' and '-'", p.Name)
	}
	if !p.Embedded() && p.File != "" {
		if _, err := os.Stat(p.StackFile()); err != nil {
			c.bad(path("stack"), "stack file %s: %v", p.StackFile(), errors.Unwrap(err))
		}
	}
	for _, pr := range p.SLO.Check() {
		c.bad(path(append([]any{"slo"}, splitField(pr.Field)...)...), "%s", pr.Msg)
	}
	c.openSLO()
	c.window()
	c.fraction(path("stop", "availability_below"), p.Stop.AvailabilityBelow)
	c.positive(path("stop", "window"), p.Stop.Window)
	c.positive(path("stop", "max_duration"), p.Stop.MaxDuration)
	c.probe()
	c.recovery()
	c.loadAndMonitoring()
	c.steps()
	return c.errs
}

func splitField(f string) []any {
	var out []any
	for _, s := range strings.Split(f, ".") {
		out = append(out, s)
	}
	return out
}

func (c *checker) probe() {
	pr := c.p.Probe
	switch pr.Mode {
	case "", ProbeHealth, ProbeChat, ProbeStream:
	default:
		c.bad(path("probe", "mode"), "unknown mode %q (want health, chat or stream)", pr.Mode)
	}
	if pr.Interval != 0 && pr.Interval.D() < time.Millisecond {
		c.bad(path("probe", "interval"), "at least 1ms, got %s", pr.Interval)
	}
	c.positive(path("probe", "timeout"), pr.Timeout)
	if pr.MaxTokens < 0 {
		c.bad(path("probe", "max_tokens"), "must be positive")
	}
	if pr.Target != "" {
		if err := param.CheckServiceName(pr.Target); err != nil {
			c.bad(path("probe", "target"), "%v", err)
		}
	}
	switch n := pr.StreamEvery; {
	case n == nil:
	case *n < 0:
		c.bad(path("probe", "stream_every"), "must be 0 (never stream) or more, got %d", *n)
	case pr.Mode == ProbeHealth:
		c.bad(path("probe", "stream_every"), "applies to mode chat only: mode health sends no completion to stream")
	case pr.Mode == ProbeStream:
		c.bad(path("probe", "stream_every"), "applies to mode chat only: mode stream streams every request")
	}
}

func (c *checker) loadAndMonitoring() {
	p := c.p
	if p.Load != nil {
		if p.Load.K6 == "" {
			c.badKey(path("load", "k6"), "required: the path of a k6 script")
		} else if p.File != "" {
			if fi, err := os.Stat(p.LoadScript()); err != nil {
				c.bad(path("load", "k6"), "k6 script %s: %v", p.LoadScript(), errors.Unwrap(err))
			} else if !fi.Mode().IsRegular() {
				c.bad(path("load", "k6"), "k6 script %s is not a regular file", p.LoadScript())
			}
		}
	}
	if m := p.Monitoring; m != nil {
		c.positive(path("monitoring", "scrape_interval"), m.ScrapeInterval)
		if m.WindowScale < 0 || m.WindowScale > 1 {
			c.bad(path("monitoring", "window_scale"), "must be within (0, 1], got %v", m.WindowScale)
		}
		if t := m.Thresholds; t != nil {
			c.positive(path("monitoring", "thresholds", "latency_p95"), t.LatencyP95)
			c.fraction(path("monitoring", "thresholds", "error_rate"), t.ErrorRate)
			c.fraction(path("monitoring", "thresholds", "availability"), t.Availability)
		}
	}
}

// steps checks each step's shape, and the fault and action params against
// the fault registry and the action table.
func (c *checker) steps() {
	p := c.p
	if len(p.Steps) == 0 {
		c.badKey(path("steps"), "a plan needs at least one step")
	}
	seen := map[string]int{}
	open := map[string]bool{} // fault steps without duration, not yet reverted
	for i, s := range p.Steps {
		sp := func(k ...any) yamldoc.Path { return path("steps", i).Add(k...) }
		switch {
		case s.Name == "":
			c.badKey(sp("name"), "required")
		case seen[s.Name] > 0:
			c.bad(sp("name"), "%q is also the name of steps[%d]: step names are unique", s.Name, seen[s.Name]-1)
		default:
			seen[s.Name] = i + 1
		}
		if !c.oneKind(s, sp) {
			continue
		}
		c.positive(sp("duration"), s.Duration)
		c.positive(sp("timeout"), s.Timeout)
		if s.Target != nil {
			c.target(s.Target, sp("target"))
		}
		if e := s.Expect; e != nil {
			c.positive(sp("expect", "max_recovery"), e.MaxRecovery)
			if e.MaxFailedRequests != nil && *e.MaxFailedRequests < 0 {
				c.bad(sp("expect", "max_failed_requests"), "must be positive")
			}
		}
		switch s.Kind() {
		case StepWait:
			c.not(s, sp, "target", s.Target != nil, "params", s.Params != nil, "duration", s.Duration != 0, "timeout", s.Timeout != 0)
		case StepFault:
			c.fault(s, sp)
			if s.Duration == 0 {
				open[s.Name] = true
			}
		case StepAction:
			c.not(s, sp, "duration", s.Duration != 0)
			if k, err := LookupAction(s.Action); err != nil {
				c.bad(sp("action"), "%v", err)
			} else if _, err := param.Decode(k.Name, k.Params, s.Params); err != nil {
				c.param(err, sp)
			} else {
				c.stepRefs(s, i, sp, seen)
			}
		case StepAwait:
			c.await(s, sp)
		case StepRevert:
			c.revert(s, i, sp, seen, open)
		}
	}
}

// oneKind checks the step has exactly one of wait, fault, action, await, revert.
func (c *checker) oneKind(s Step, sp func(...any) yamldoc.Path) bool {
	var set []string
	for _, k := range []struct {
		name string
		on   bool
	}{{"wait", s.Wait != 0}, {"fault", s.Fault != ""}, {"action", s.Action != ""}, {"await", s.Await != nil}, {"revert", s.Revert != ""}} {
		if k.on {
			set = append(set, k.name)
		}
	}
	if len(set) == 1 {
		return true
	}
	msg := "needs exactly one of wait, fault, action, await, revert"
	if len(set) > 1 {
		c.bad(sp(set[1]), "%s, has %s", msg, strings.Join(set, " and "))
	} else {
		c.bad(sp(), "%s", msg)
	}
	return false
}

// not refuses fields that do not belong on the step's kind; pairs are
// (field name, is it set).
func (c *checker) not(s Step, sp func(...any) yamldoc.Path, pairs ...any) {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1].(bool) {
			c.badKey(sp(pairs[i].(string)), "not allowed on a %s step", s.Kind())
		}
	}
}

func (c *checker) fault(s Step, sp func(...any) yamldoc.Path) {
	if s.Target == nil {
		c.bad(sp("fault"), "a fault needs a target")
	}
	c.not(s, sp, "timeout", s.Timeout != 0)
	k, err := chaos.LookupKind(s.Fault)
	if err != nil {
		c.bad(sp("fault"), "%v", err)
		return
	}
	if _, err := k.Decode(s.Params); err != nil {
		c.param(err, sp)
	}
}

// param places a *param.Error at params.NAME (at the key when the param is
// unknown).
func (c *checker) param(err error, sp func(...any) yamldoc.Path) {
	var pe *param.Error
	if !errors.As(err, &pe) {
		c.bad(sp("params"), "%v", err)
		return
	}
	if pe.Unknown {
		c.badKey(sp("params", pe.Param), "%s", pe.Msg)
		return
	}
	c.bad(sp("params", pe.Param), "%s", pe.Msg)
}

func (c *checker) await(s Step, sp func(...any) yamldoc.Path) {
	c.not(s, sp, "params", s.Params != nil, "duration", s.Duration != 0)
	if s.Timeout <= 0 {
		c.bad(sp("timeout"), "an await needs a timeout")
	}
	a := s.Await
	switch a.Kind {
	case AwaitRecovered, AwaitHealthy:
	case AwaitAlertFiring, AwaitAlertResolved:
		if a.Alert == "" {
			c.bad(sp("await"), "%s needs an alert name: \"%s NAME\"", a.Kind, a.Kind)
		} else if c.p.Monitoring == nil {
			c.bad(sp("await"), "%s needs the monitoring block (a Prometheus to ask)", a.Kind)
		}
	case AwaitCondition:
		if a.Query == "" {
			c.bad(sp("await"), "condition needs a PromQL query")
		} else if c.p.Monitoring == nil {
			c.bad(sp("await"), "condition needs the monitoring block (a Prometheus to ask)")
		}
	default:
		c.bad(sp("await"), "unknown await %q (want recovered, healthy, alert-firing NAME, alert-resolved NAME or condition QUERY)", a.Kind)
	}
	if a.Kind != AwaitHealthy {
		c.not(s, sp, "target", s.Target != nil)
	}
}

func (c *checker) revert(s Step, i int, sp func(...any) yamldoc.Path, seen map[string]int, open map[string]bool) {
	c.not(s, sp, "target", s.Target != nil, "params", s.Params != nil, "duration", s.Duration != 0, "timeout", s.Timeout != 0)
	steps := c.p.Steps
	prev, ok := seen[s.Revert]
	switch {
	case !ok || prev-1 >= i:
		c.bad(sp("revert"), "%q is not an earlier step", s.Revert)
	case steps[prev-1].Fault == "":
		c.bad(sp("revert"), "%q is not a fault step", s.Revert)
	case steps[prev-1].Duration != 0:
		c.bad(sp("revert"), "%q reverts itself after its duration", s.Revert)
	case !open[s.Revert]:
		c.bad(sp("revert"), "%q is already reverted by an earlier step", s.Revert)
	default:
		delete(open, s.Revert)
	}
}

func (c *checker) target(t *Target, at yamldoc.Path) {
	seen := map[string]bool{}
	for i, n := range t.Names {
		if err := param.CheckServiceName(n); err != nil {
			c.bad(c.p.nameAt(at, i), "%v", err)
		} else if seen[n] {
			c.bad(c.p.nameAt(at, i), "%q is named twice: each service is hit once", n)
		}
		seen[n] = true
	}
	if len(t.Names) > 0 {
		if t.Role != "" || t.Percent != 0 || t.Count != 0 {
			c.bad(at, "give names or a role, not both")
		}
		return
	}
	switch stack.Role(t.Role) {
	case stack.RoleGateway, stack.RoleModel, stack.RoleProxy, stack.RoleMonitor:
	case "":
		c.bad(at, "needs names or a role")
	default:
		c.bad(at.Add("role"), "unknown role %q (want gateway, model, proxy or monitor)", t.Role)
	}
	if t.Percent != 0 && (t.Percent < 1 || t.Percent > 100) {
		c.bad(at.Add("percent"), "must be within 1..100, got %d", t.Percent)
	}
	if t.Count < 0 {
		c.bad(at.Add("count"), "must be positive, got %d", t.Count)
	}
	if t.Count != 0 && t.Percent != 0 {
		c.bad(at, "give percent or count, not both")
	}
}
