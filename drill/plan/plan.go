// Package plan decodes drill plans (strict YAML, every problem at
// file:line:column with its field), validates them against the fault
// registry, the action table and the stack they will run on, and generates
// their JSON Schema. Running a plan is package drill's job.
package plan

import (
	"slices"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/internal/yamldoc"
	"github.com/aiuptime/aiuptime/slo"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/units"
)

// This file holds only the plan's types: schema.go embeds it and reads the
// doc comments of these fields as the JSON Schema's descriptions, so a
// field's comment is its documentation for plan authors too.

// Plan is a drill: which stack, what traffic, which faults and actions in
// which order, judged against which SLOs.
type Plan struct {
	// Name identifies the plan in reports and metrics: letters, digits, '.', '_' and '-'.
	Name string `yaml:"name" json:"name"`
	// Description says in one line what the drill proves.
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Stack is "embedded" (the default: the stack the tool starts itself) or
	// the path of a stack file, relative to the plan file.
	Stack string `yaml:"stack,omitempty" json:"stack,omitempty"`
	// Window is the maintenance window the plan may run in: {days: [sat], start: "02:00", end: "06:00", tz: Europe/Berlin, cadence: monthly}, or any. drill run outside it refuses (exit 2) unless --now or critical: true; without it the plan runs at any time.
	Window *Window `yaml:"window,omitempty" json:"window,omitempty"`
	// SLO holds the objectives the drill is judged against.
	SLO slo.Spec `yaml:"slo,omitempty" json:"slo,omitempty"`
	// Stop holds the conditions that abort the drill (reverting every fault).
	Stop Stop `yaml:"stop,omitempty" json:"stop,omitempty"`
	// Probe is the synthetic traffic that measures what users feel.
	Probe Probe `yaml:"probe,omitempty" json:"probe,omitempty"`
	// Load is optional extra load from a k6 script, beside the probe.
	Load *Load `yaml:"load,omitempty" json:"load,omitempty"`
	// Monitoring starts a Prometheus beside the stack with generated alert rules.
	Monitoring *Monitoring `yaml:"monitoring,omitempty" json:"monitoring,omitempty"`
	// Recovery configures how each service a fault or a restore hurts is watched directly, for its component recovery.
	Recovery *Recovery `yaml:"recovery,omitempty" json:"recovery,omitempty"`
	// ServiceProbes probes every model server and the gateway side by side for their own availability.
	ServiceProbes *ServiceProbes `yaml:"service_probes,omitempty" json:"service_probes,omitempty"`
	// Steps run in order.
	Steps []Step `yaml:"steps" json:"steps"`

	// File is the path the plan was read from (not part of the YAML).
	File string `yaml:"-" json:"-"`
	// Seed decides which services of a role a share of it picks (see
	// Target): set by the caller (drill run --seed), not part of the YAML.
	// Nil: the runner chooses one, sets it here and records it in the
	// report, so the run can be repeated.
	Seed *uint64 `yaml:"-" json:"-"`
	// doc is the parsed document, for positions of later checks.
	doc *yamldoc.Doc
}

// Stop is the plan's stop conditions: when one is breached the drill aborts,
// reverts every fault in force, writes its reports and exits 5.
type Stop struct {
	// AvailabilityBelow aborts when availability over Window falls below it, in percent.
	AvailabilityBelow *units.Percent `yaml:"availability_below,omitempty" json:"availability_below,omitempty"`
	// Window is the sliding window AvailabilityBelow is measured over (default 10s).
	Window units.Duration `yaml:"window,omitempty" json:"window,omitempty"`
	// MaxDuration aborts a drill that runs longer than this.
	MaxDuration units.Duration `yaml:"max_duration,omitempty" json:"max_duration,omitempty"`
}

// Window is a maintenance window: a weekday and time range in a time zone,
// repeating weekly, monthly or quarterly. In YAML it is a mapping, or the
// scalar any (always open).
type Window struct {
	// Days are the weekdays the window opens on (mon, tue, wed, thu, fri, sat, sun), or [any] alone: at any time.
	Days []Weekday `yaml:"days,omitempty" json:"days,omitempty"`
	// Start is the local time of day the window opens, "HH:MM".
	Start Clock `yaml:"start,omitempty" json:"start,omitempty"`
	// End is the local time of day the window closes, "HH:MM"; before start it closes the next day.
	End Clock `yaml:"end,omitempty" json:"end,omitempty"`
	// TZ is the IANA time zone start and end are read in, such as Europe/Berlin (default UTC).
	TZ string `yaml:"tz,omitempty" json:"tz,omitempty"`
	// Cadence is weekly (every matching day, the default), monthly (the first matching day of each month) or quarterly (the first of January, April, July and October).
	Cadence string `yaml:"cadence,omitempty" json:"cadence,omitempty" enum:"weekly,monthly,quarterly"`
	// Critical runs the plan outside the window too, without --now (an emergency patch goes in at once); the report records the override.
	Critical bool `yaml:"critical,omitempty" json:"critical,omitempty"`
}

// Weekday is a day of a window: mon ... sun (or the full name), or any.
type Weekday string

// Clock is a time of day, "HH:MM" (00:00 to 24:00).
type Clock string

// Probe modes.
const (
	ProbeHealth = "health" // GET the health endpoint
	ProbeChat   = "chat"   // a tiny non-streaming chat completion; every stream_every-th one streams
	ProbeStream = "stream" // a streaming chat completion (TTFT, ITL, truncation)
)

// Probe configures the synthetic traffic.
type Probe struct {
	// Interval is the time between requests (open loop; default 100ms).
	Interval units.Duration `yaml:"interval,omitempty" json:"interval,omitempty"`
	// Mode is health, chat or stream (default chat).
	Mode string `yaml:"mode,omitempty" json:"mode,omitempty" enum:"health,chat,stream"`
	// Target is "gateway" (default) or the name of a service such as model-0.
	Target string `yaml:"target,omitempty" json:"target,omitempty"`
	// Timeout is the per-request deadline (default 10s).
	Timeout units.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// MaxTokens caps the tokens of each completion (default 16).
	MaxTokens int `yaml:"max_tokens,omitempty" json:"max_tokens,omitempty"`
	// StreamEvery makes every Nth request of mode chat a streaming one, so that TTFT, ITL and TPOT are measured while the others keep the plain completion's deadline check (default 10 in mode chat: 1 in 10 streams; 0 never streams, and the reports then say TTFT "not measured"). Only for mode chat: mode stream streams every request and mode health sends no completion.
	StreamEvery *int `yaml:"stream_every,omitempty" json:"stream_every,omitempty"`
}

// Recovery configures the direct watch of each service a fault or a restore
// hurts: from just before the fault until it recovered, its health, a tiny
// completion with a deadline, the gateway's view of it and its processes.
type Recovery struct {
	// Failures is how many consecutive failed checks confirm a component outage (default 3, the seed's failover rule); it applies to the service probes too.
	Failures int `yaml:"failures,omitempty" json:"failures,omitempty"`
	// Successes is how many consecutive good checks confirm its recovery (default 5, the seed's recovery rule).
	Successes int `yaml:"successes,omitempty" json:"successes,omitempty"`
	// Interval is the time between two health checks, and between two completions, of a watched service (default 100ms).
	Interval units.Duration `yaml:"interval,omitempty" json:"interval,omitempty"`
	// CompletionTimeout bounds each tiny completion (default 2s): a hung engine, whose /health stays 200, fails it.
	CompletionTimeout units.Duration `yaml:"completion_timeout,omitempty" json:"completion_timeout,omitempty"`
	// Settle is how long a service is still watched after the last fault on it ended, at least (default 5s).
	Settle units.Duration `yaml:"settle,omitempty" json:"settle,omitempty"`
}

// ServiceProbes probes each model server and the gateway directly for the
// whole drill, beside the users' probe.
type ServiceProbes struct {
	// Mode is health (default: GET each service's health path), chat or stream (a tiny completion to each), or off.
	Mode string `yaml:"mode,omitempty" json:"mode,omitempty" enum:"health,chat,stream,off"`
	// Interval is the time between two requests to each service (default 250ms).
	Interval units.Duration `yaml:"interval,omitempty" json:"interval,omitempty"`
	// Timeout is the per-request deadline (default 2s).
	Timeout units.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// Load runs a k6 script beside the probe.
type Load struct {
	// K6 is the path of the k6 script, relative to the plan file.
	K6 string `yaml:"k6" json:"k6"`
	// Env is passed to k6 as environment variables (the gateway URL and key are added).
	Env map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
}

// Monitoring starts a real Prometheus (and optionally Alertmanager) beside
// the stack, with SLO burn-rate and direct alert rules generated from the plan.
type Monitoring struct {
	// Prometheus starts Prometheus (default true when the block is present).
	Prometheus *bool `yaml:"prometheus,omitempty" json:"prometheus,omitempty"`
	// Alertmanager also starts an Alertmanager with a webhook receiver in the harness.
	Alertmanager bool `yaml:"alertmanager,omitempty" json:"alertmanager,omitempty"`
	// ScrapeInterval is the scrape and rule evaluation interval (default 1s).
	ScrapeInterval units.Duration `yaml:"scrape_interval,omitempty" json:"scrape_interval,omitempty"`
	// WindowScale shrinks the 30-day burn-rate windows for drills (e.g. 0.0005).
	WindowScale float64 `yaml:"window_scale,omitempty" json:"window_scale,omitempty"`
	// Thresholds are the direct alert thresholds (defaults: p95 5s, error rate 5%,
	// availability the slo block's availability objective, without one no availability alert).
	Thresholds *AlertThresholds `yaml:"thresholds,omitempty" json:"thresholds,omitempty"`
}

// AlertThresholds are the direct (non-burn-rate) alert thresholds.
type AlertThresholds struct {
	// LatencyP95 fires the p95 alert above it.
	LatencyP95 units.Duration `yaml:"latency_p95,omitempty" json:"latency_p95,omitempty"`
	// ErrorRate fires the error-rate alert above it, in percent.
	ErrorRate *units.Percent `yaml:"error_rate,omitempty" json:"error_rate,omitempty"`
	// Availability fires the availability alert below it, in percent.
	Availability *units.Percent `yaml:"availability,omitempty" json:"availability,omitempty"`
}

// Step is one step of a plan. It has a name and exactly one of wait, fault,
// action, await or revert.
type Step struct {
	// Name identifies the step in reports; unique within the plan.
	Name string `yaml:"name" json:"name"`
	// Wait pauses for this long (steady state, soak).
	Wait units.Duration `yaml:"wait,omitempty" json:"wait,omitempty"`
	// Fault is the kind of fault to inject (see `drill list`).
	Fault string `yaml:"fault,omitempty" json:"fault,omitempty"`
	// Action is an operation on the stack: rolling-update, blue-green, canary, backup, restore, ...
	Action string `yaml:"action,omitempty" json:"action,omitempty"`
	// Await blocks until a condition holds: recovered, healthy, "alert-firing NAME", "alert-resolved NAME", or a mapping.
	Await *Await `yaml:"await,omitempty" json:"await,omitempty"`
	// Revert names an earlier fault step without duration whose fault is still in force, and reverts it.
	Revert string `yaml:"revert,omitempty" json:"revert,omitempty"`
	// Target is what a fault or action hits: a service name, a list of names, or {role: model, percent: 50}.
	Target *Target `yaml:"target,omitempty" json:"target,omitempty"`
	// Params are the fault's or action's parameters (see `drill list`).
	Params map[string]any `yaml:"params,omitempty" json:"params,omitempty"`
	// Duration reverts the fault automatically after this long (faults only);
	// without it the fault stays until a later revert step or the drill's end.
	Duration units.Duration `yaml:"duration,omitempty" json:"duration,omitempty"`
	// Timeout bounds an await (required) or an action.
	Timeout units.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// Expect is the step's hypothesis; a deviation fails the step.
	Expect *Expect `yaml:"expect,omitempty" json:"expect,omitempty"`
}

// Expect is a step's hypothesis about what users will feel.
type Expect struct {
	// Outage says whether the step should cause an outage (true) or not (false).
	Outage *bool `yaml:"outage,omitempty" json:"outage,omitempty"`
	// MaxRecovery is the longest recovery allowed after this step's fault.
	MaxRecovery units.Duration `yaml:"max_recovery,omitempty" json:"max_recovery,omitempty"`
	// MaxFailedRequests is how many probe requests may fail during the step.
	MaxFailedRequests *int `yaml:"max_failed_requests,omitempty" json:"max_failed_requests,omitempty"`
	// Alert names an alert that must fire because of this step (checked by a later await or at the end).
	Alert string `yaml:"alert,omitempty" json:"alert,omitempty"`
}

// ClusterOnly reports whether the plan has a fault step whose kind acts on
// Kubernetes cluster objects (stack.CapCluster, the Chaos Mesh kinds): it
// runs only with a kubernetes stack file (--stack), never on the embedded
// stack.
func (p *Plan) ClusterOnly() bool {
	for _, s := range p.Steps {
		if s.Fault == "" {
			continue
		}
		if k, err := chaos.LookupKind(s.Fault); err == nil && slices.Contains(k.Needs, stack.CapCluster) {
			return true
		}
	}
	return false
}
