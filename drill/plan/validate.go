package drill

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
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
		pr.Interval = Duration(DefaultProbeInterval)
	}
	if pr.Timeout == 0 {
		pr.Timeout = Duration(DefaultProbeTimeout)
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
	if st.Window == 0 {
		st.Window = Duration(DefaultStopWindow)
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

type valErr struct {
	PlanError
	path path
	// atKey places the error at the field's key rather than its value
	// (an unknown key is wrong as a key).
	atKey bool
}

var planNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// Validate checks a decoded plan with the built-in kind tables (use
// ParsePlan to get positions). It returns PlanErrors or nil.
func (p *Plan) Validate(opts ...PlanOption) error {
	o := planOptions{fault: builtinFaultValidator, action: builtinActionValidator}
	for _, opt := range opts {
		opt(&o)
	}
	errs := validate(p, &o)
	if len(errs) == 0 {
		return nil
	}
	out := make(PlanErrors, len(errs))
	for i, e := range errs {
		e.File = p.File
		out[i] = &e.PlanError
	}
	return out
}

func validate(p *Plan, o *planOptions) []*valErr {
	var errs []*valErr
	bad := func(pa path, format string, args ...any) {
		errs = append(errs, &valErr{PlanError: PlanError{Field: pa.String(), Msg: fmt.Sprintf(format, args...)}, path: pa})
	}
	positive := func(pa path, d Duration) {
		if d < 0 {
			bad(pa, "must be positive, got %s", d)
		}
	}
	fraction := func(pa path, v *Percent, allowZero bool) {
		if v != nil && (*v < 0 || *v > 1 || (!allowZero && *v == 0)) {
			bad(pa, "must be within 0..100%%, got %s", v)
		}
	}
	switch {
	case p.Name == "":
		bad(path{"name"}, "required")
	case !planNameRE.MatchString(p.Name):
		bad(path{"name"}, "%q: use letters, digits, '.', '_' and '-'", p.Name)
	}
	if !p.Embedded() && p.File != "" {
		if _, err := os.Stat(p.StackFile()); err != nil {
			bad(path{"stack"}, "stack file %s: %v", p.StackFile(), errors.Unwrap(err))
		}
	}
	// SLO
	fraction(path{"slo", "availability"}, p.SLO.Availability, false)
	fraction(path{"slo", "error_rate"}, p.SLO.ErrorRate, true)
	for name, d := range map[string]Duration{"latency_p95": p.SLO.LatencyP95, "latency_p99": p.SLO.LatencyP99,
		"recovery_time": p.SLO.RecoveryTime, "ttft_p95": p.SLO.TTFTP95, "rto": p.SLO.RTO, "rpo": p.SLO.RPO} {
		positive(path{"slo", name}, d)
	}
	if p.SLO.Throughput < 0 {
		bad(path{"slo", "throughput"}, "must be positive")
	}
	if g := p.SLO.Goodput; g != nil {
		positive(path{"slo", "goodput", "ttft"}, g.TTFT)
		positive(path{"slo", "goodput", "tpot"}, g.TPOT)
		positive(path{"slo", "goodput", "latency"}, g.Latency)
		fraction(path{"slo", "goodput", "attainment"}, g.Attainment, false)
		if g.MinRPS < 0 {
			bad(path{"slo", "goodput", "min_rps"}, "must be positive")
		}
		if g.TTFT == 0 && g.TPOT == 0 && g.Latency == 0 {
			bad(path{"slo", "goodput"}, "set at least one of ttft, tpot, latency")
		}
	}
	// stop
	fraction(path{"stop", "availability_below"}, p.Stop.AvailabilityBelow, false)
	positive(path{"stop", "window"}, p.Stop.Window)
	positive(path{"stop", "max_duration"}, p.Stop.MaxDuration)
	// probe
	switch p.Probe.Mode {
	case "", ProbeHealth, ProbeChat, ProbeStream:
	default:
		bad(path{"probe", "mode"}, "unknown mode %q (want health, chat or stream)", p.Probe.Mode)
	}
	positive(path{"probe", "interval"}, p.Probe.Interval)
	if p.Probe.Interval > 0 && p.Probe.Interval.D() < time.Millisecond {
		bad(path{"probe", "interval"}, "at least 1ms, got %s", p.Probe.Interval)
	}
	positive(path{"probe", "timeout"}, p.Probe.Timeout)
	if p.Probe.MaxTokens < 0 {
		bad(path{"probe", "max_tokens"}, "must be positive")
	}
	if p.Probe.Target != "" && !serviceNameRE.MatchString(p.Probe.Target) {
		bad(path{"probe", "target"}, "%q is not a service name", p.Probe.Target)
	}
	if p.Load != nil && p.Load.K6 == "" {
		bad(path{"load", "k6"}, "required: the path of a k6 script")
	}
	if m := p.Monitoring; m != nil {
		positive(path{"monitoring", "scrape_interval"}, m.ScrapeInterval)
		if m.WindowScale < 0 || m.WindowScale > 1 {
			bad(path{"monitoring", "window_scale"}, "must be within (0, 1], got %v", m.WindowScale)
		}
		if t := m.Thresholds; t != nil {
			positive(path{"monitoring", "thresholds", "latency_p95"}, t.LatencyP95)
			fraction(path{"monitoring", "thresholds", "error_rate"}, t.ErrorRate, false)
			fraction(path{"monitoring", "thresholds", "availability"}, t.Availability, false)
		}
	}
	// steps
	if len(p.Steps) == 0 {
		bad(path{"steps"}, "a plan needs at least one step")
	}
	seen := map[string]int{}
	openFaults := map[string]bool{} // fault steps without duration, not yet reverted
	for i, s := range p.Steps {
		sp := func(k ...any) path { return append(path{"steps", i}, k...) }
		switch {
		case s.Name == "":
			bad(sp("name"), "required")
		case seen[s.Name] > 0:
			bad(sp("name"), "%q is also the name of steps[%d]: step names are unique", s.Name, seen[s.Name]-1)
		default:
			seen[s.Name] = i + 1
		}
		var set []string
		for _, k := range []struct {
			name string
			on   bool
		}{{"wait", s.Wait != 0}, {"fault", s.Fault != ""}, {"action", s.Action != ""}, {"await", s.Await != nil}, {"revert", s.Revert != ""}} {
			if k.on {
				set = append(set, k.name)
			}
		}
		if len(set) != 1 {
			msg := "needs exactly one of wait, fault, action, await, revert"
			if len(set) > 1 {
				msg += ", has " + strings.Join(set, " and ")
				bad(sp(set[1]), "%s", msg)
			} else {
				bad(sp(), "%s", msg)
			}
			continue
		}
		not := func(field string, on bool) {
			if on {
				bad(sp(field), "not allowed on a %s step", s.Kind())
				errs[len(errs)-1].atKey = true
			}
		}
		positive(sp("duration"), s.Duration)
		positive(sp("timeout"), s.Timeout)
		if s.Target != nil {
			validateTarget(s.Target, sp("target"), bad)
		}
		if e := s.Expect; e != nil {
			positive(sp("expect", "max_recovery"), e.MaxRecovery)
			if e.MaxFailedRequests != nil && *e.MaxFailedRequests < 0 {
				bad(sp("expect", "max_failed_requests"), "must be positive")
			}
		}
		switch s.Kind() {
		case StepWait:
			if s.Wait < 0 {
				bad(sp("wait"), "must be positive, got %s", s.Wait)
			}
			not("target", s.Target != nil)
			not("params", s.Params != nil)
			not("duration", s.Duration != 0)
			not("timeout", s.Timeout != 0)
		case StepFault:
			if s.Target == nil {
				bad(sp("fault"), "a fault needs a target")
			}
			not("timeout", s.Timeout != 0)
			if err := o.fault(s.Fault, s.Params); err != nil {
				paramErr(err, s.Params, &errs, sp, bad)
			}
			if s.Duration == 0 {
				openFaults[s.Name] = true
			}
		case StepAction:
			not("duration", s.Duration != 0)
			if err := o.action(s.Action, s.Params); err != nil {
				paramErr(err, s.Params, &errs, sp, bad)
			}
		case StepAwait:
			not("params", s.Params != nil)
			not("duration", s.Duration != 0)
			if s.Timeout <= 0 {
				bad(sp("timeout"), "an await needs a timeout")
			}
			a := s.Await
			switch a.Kind {
			case AwaitRecovered, AwaitHealthy:
			case AwaitAlertFiring, AwaitAlertResolved:
				if a.Alert == "" {
					bad(sp("await"), "%s needs an alert name: \"%s NAME\"", a.Kind, a.Kind)
				} else if p.Monitoring == nil {
					bad(sp("await"), "%s needs the monitoring block (a Prometheus to ask)", a.Kind)
				}
			case AwaitCondition:
				if a.Query == "" {
					bad(sp("await"), "condition needs a PromQL query")
				} else if p.Monitoring == nil {
					bad(sp("await"), "condition needs the monitoring block (a Prometheus to ask)")
				}
			default:
				bad(sp("await"), "unknown await %q (want recovered, healthy, alert-firing NAME, alert-resolved NAME or condition QUERY)", a.Kind)
			}
			if a.Kind != AwaitHealthy {
				not("target", s.Target != nil)
			}
		case StepRevert:
			for _, k := range []struct {
				f  string
				on bool
			}{{"target", s.Target != nil}, {"params", s.Params != nil}, {"duration", s.Duration != 0}, {"timeout", s.Timeout != 0}} {
				not(k.f, k.on)
			}
			prev, ok := seen[s.Revert]
			switch {
			case !ok || prev-1 >= i:
				bad(sp("revert"), "%q is not an earlier step", s.Revert)
			case p.Steps[prev-1].Fault == "":
				bad(sp("revert"), "%q is not a fault step", s.Revert)
			case p.Steps[prev-1].Duration != 0:
				bad(sp("revert"), "%q reverts itself after its duration", s.Revert)
			case !openFaults[s.Revert]:
				bad(sp("revert"), "%q is already reverted by an earlier step", s.Revert)
			default:
				delete(openFaults, s.Revert)
			}
		}
	}
	return errs
}

func paramErr(err error, params map[string]any, errs *[]*valErr, sp func(...any) path, bad func(path, string, ...any)) {
	var pe *ParamError
	if errors.As(err, &pe) {
		bad(sp("params", pe.Param), "%s", pe.Msg)
		if _, known := params[pe.Param]; known && strings.HasPrefix(pe.Msg, "unknown") {
			(*errs)[len(*errs)-1].atKey = true
		}
		return
	}
	// Registries outside this package (chaos/faults) name the param in the
	// message: "params.delay: want a duration".
	if rest, ok := strings.CutPrefix(err.Error(), "params."); ok {
		if name, msg, ok := strings.Cut(rest, ":"); ok && !strings.ContainsAny(name, " \t") {
			bad(sp("params", name), "%s", strings.TrimSpace(msg))
			if _, known := params[name]; known && strings.Contains(msg, "unknown") {
				(*errs)[len(*errs)-1].atKey = true
			}
			return
		}
	}
	msg := err.Error()
	field := "fault"
	if strings.Contains(msg, "action") {
		field = "action"
	}
	for _, f := range []string{"fault", "action"} {
		if rest, ok := strings.CutPrefix(msg, f+": "); ok {
			field, msg = f, rest
		}
	}
	bad(sp(field), "%s", msg)
}

func validateTarget(t *Target, pa path, bad func(path, string, ...any)) {
	for i, n := range t.Names {
		if !serviceNameRE.MatchString(n) {
			bad(append(pa, "names", i), "%q is not a service name", n)
		}
	}
	if len(t.Names) > 0 {
		if t.Role != "" || t.Percent != 0 || t.Count != 0 {
			bad(pa, "give names or a role, not both")
		}
		return
	}
	switch t.Role {
	case "gateway", "model", "proxy", "monitor":
	case "":
		bad(pa, "needs names or a role")
	default:
		bad(append(pa, "role"), "unknown role %q (want gateway, model, proxy or monitor)", t.Role)
	}
	if t.Percent != 0 && (t.Percent < 1 || t.Percent > 100) {
		bad(append(pa, "percent"), "must be within 1..100, got %d", t.Percent)
	}
	if t.Count < 0 {
		bad(append(pa, "count"), "must be positive, got %d", t.Count)
	}
	if t.Count != 0 && t.Percent != 0 {
		bad(pa, "give percent or count, not both")
	}
}
