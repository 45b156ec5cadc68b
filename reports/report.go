// Package reports holds the report.json contract of a drill and renders it
// for its readers: JUnit XML for CI, Markdown for tickets, a self-contained
// HTML page for customers and a node_exporter textfile for Prometheus.
//
// The package imports nothing of the harness: the runner fills a Report from
// its own analysis, and `drill report` re-renders one from report.json.
package reports

import "time"

// Verdict is the outcome of a whole drill.
type Verdict string

// Verdicts, as in the command-line contract (exit codes 0, 1, 3/4, 5).
const (
	VerdictPass    Verdict = "pass"
	VerdictFail    Verdict = "fail"
	VerdictError   Verdict = "error"
	VerdictAborted Verdict = "aborted"
)

// Step statuses.
const (
	StatusPassed  = "passed"  // the step ran and its hypothesis held
	StatusFailed  = "failed"  // the step ran but its hypothesis deviated (JUnit failure)
	StatusError   = "error"   // injection, revert or action broke (JUnit error)
	StatusSkipped = "skipped" // not run (aborted before it, or dry run)
)

// Rollout decisions.
const (
	DecisionPromoted   = "promoted"
	DecisionRolledBack = "rolled-back"
	DecisionCompleted  = "completed"
	DecisionAborted    = "aborted"
)

// Report is the record of one drill run: the report.json contract.
// Times are RFC 3339 with nanoseconds, durations are seconds, ratios are
// fractions 0..1.
type Report struct {
	// SchemaVersion is the version of this contract (currently 1).
	SchemaVersion int `json:"schema_version"`
	// Plan is the plan's name.
	Plan string `json:"plan"`
	// Description is the plan's description.
	Description string `json:"description,omitempty"`
	// Stack names the stack drilled: its kind and, for a stack file, the
	// file's base name ("containers", "docker ollama-caddy.yaml"). Trends
	// group runs by plan and stack.
	Stack string `json:"stack,omitempty"`
	// RunID is the aiuptime.run label value of the run.
	RunID string `json:"run_id,omitempty"`
	// Seed chose the services of each share of a role (a step's
	// {role: model, count: 1}); `drill run --seed N` repeats the choice.
	Seed       *uint64   `json:"seed,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	Verdict    Verdict   `json:"verdict"`
	// VerdictReason says why the verdict is not pass, in one line.
	VerdictReason string       `json:"verdict_reason,omitempty"`
	Availability  Availability `json:"availability"`
	Requests      Requests     `json:"requests"`
	// MTTRSeconds is the mean duration of the user-visible outages; null
	// without outages (there was nothing to recover from, which is not a
	// recovery of 0 s). Schema 1 wrote 0.
	MTTRSeconds *float64 `json:"mttr_seconds"`
	// MTBFSeconds is the mean up time between user-visible outages
	// ((span - downtime) / outages); null without outages.
	MTBFSeconds *float64 `json:"mtbf_seconds"`
	// MTTRPhases splits recovery into detect, failover, engine-ready, first token, ...
	MTTRPhases []Phase   `json:"mttr_phases,omitempty"`
	Latency    Quantiles `json:"latency_seconds"`
	// TTFT, ITL and TPOT come from streamed requests only (probe mode
	// stream, or every stream_every-th request of mode chat); when none
	// was, their count is 0 and every output says "not measured".
	TTFT Quantiles `json:"ttft_seconds"`
	// ITL is the gap between two consecutive tokens of a stream.
	ITL Quantiles `json:"itl_seconds"`
	// TPOT is the time per output token after the first,
	// (E2E - TTFT) / (tokens - 1), of a stream of two tokens or more.
	TPOT Quantiles `json:"tpot_seconds"`
	// GoodputRPS is the rate of requests that met every per-request SLO.
	GoodputRPS float64 `json:"goodput_rps,omitempty"`
	// ThroughputRPS is the rate of all requests.
	ThroughputRPS float64  `json:"throughput_rps,omitempty"`
	Outages       []Outage `json:"outages"`
	// ComponentRecovery is how each service a fault or a restore hurt
	// recovered, measured directly, beside what users felt.
	ComponentRecovery *ComponentRecovery `json:"component_recovery,omitempty"`
	// ServiceAvailability is each service's own availability, probed
	// directly beside the users' probe.
	ServiceAvailability []ServiceAvailability `json:"service_availability,omitempty"`
	Steps               []Step                `json:"steps"`
	SLO                 []SLOResult           `json:"slo"`
	// SLOPrometheus is the same objectives as Prometheus saw them, beside
	// the probe's view, so that a monitoring gap shows as a difference.
	SLOPrometheus []SLOResult `json:"slo_prometheus,omitempty"`
	// Grade is the availability grade (A+, A, B, C, D).
	Grade        string       `json:"grade"`
	Services     []Service    `json:"services"`
	Capabilities Capabilities `json:"capabilities"`
	DR           *DR          `json:"dr,omitempty"`
	Rollouts     []Rollout    `json:"rollouts,omitempty"`
	// Window is the maintenance window the run was checked against, and
	// whether it ran inside it or by an override (window.go).
	Window *WindowCheck `json:"window,omitempty"`
	// Validations are the checks after an update: functional checks and
	// the performance comparison against the same run's baseline
	// (validation.go).
	Validations []Validation `json:"validations,omitempty"`
	// Samples are bounded reservoirs of per-request measurements, for
	// statistical comparison of runs (samples.go).
	Samples     *Samples    `json:"samples,omitempty"`
	Alerts      []Alert     `json:"alerts,omitempty"`
	K6          *K6         `json:"k6,omitempty"`
	Environment Environment `json:"environment"`
	Timeline    Timeline    `json:"timeline"`
}

// SchemaVersion is the current report.json contract version. Version 2:
// mttr_seconds and mtbf_seconds are null without outages (1 wrote 0);
// slo[] gained kind, not_measured and detail.
const SchemaVersion = 2

// Availability holds both availability SLIs as fractions 0..1.
type Availability struct {
	// RequestBased is good requests / all requests.
	RequestBased float64 `json:"request_based"`
	// TimeBased is good time slices / all time slices.
	TimeBased float64 `json:"time_based"`
}

// Requests counts probe requests. Failed and incomplete requests are
// never dropped from Total.
type Requests struct {
	Total  int64 `json:"total"`
	Failed int64 `json:"failed"`
	// ByOutcome counts requests per outcome (ok, error, timeout, truncated, stalled).
	ByOutcome map[string]int64 `json:"by_outcome,omitempty"`
}

// ErrorRate is Failed/Total (0 without requests).
func (r Requests) ErrorRate() float64 {
	if r.Total == 0 {
		return 0
	}
	return float64(r.Failed) / float64(r.Total)
}

// Quantiles are latency percentiles in seconds, and how many samples they
// are over.
type Quantiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	// Count is the number of samples behind the percentiles; 0 means not
	// measured. A report.json written before count existed has none (0),
	// and its percentiles say whether it measured (see Measured).
	Count int64 `json:"count"`
}

// Measured reports whether the quantiles rest on samples: a count, or, in
// a report.json written before count existed, a percentile that is not 0
// (where all are 0 nothing was measured: such reports wrote 0 for "none").
func (q Quantiles) Measured() bool { return q.Count > 0 || q.P50 != 0 || q.P95 != 0 || q.P99 != 0 }

// Phase is a named part of a recovery or a restore.
type Phase struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// Outage is a span during which the service failed its users.
type Outage struct {
	Start           time.Time `json:"start"`
	End             time.Time `json:"end"`
	DurationSeconds float64   `json:"duration_seconds"`
	// Cause names the fault or step in force when the outage began.
	Cause string `json:"cause,omitempty"`
}

// Step is one executed plan step.
type Step struct {
	Name string `json:"name"`
	// Kind is wait, fault, action, await or revert; for faults and actions
	// the fault or action kind follows after a colon (fault:gpu-kill).
	Kind string `json:"kind"`
	// Target is what the step hit as a line: the services, and for a share
	// of a role what the plan asked ("model-2 (1 of role model)").
	Target string `json:"target,omitempty"`
	// Targets are the services the step's target resolved to, the ones it
	// acted on (a step that did not run has none).
	Targets    []string  `json:"targets,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// Status is passed, failed, error or skipped.
	Status string `json:"status"`
	// RecoverySeconds is the time to recover after this step's fault, if measured.
	RecoverySeconds *float64 `json:"recovery_seconds,omitempty"`
	// Error is what broke (status error) or how the hypothesis deviated (failed).
	Error string `json:"error,omitempty"`
	// Mechanism says how a fault was applied (netem, tbf, toxiproxy fallback, ...).
	Mechanism string `json:"mechanism,omitempty"`
}

// DurationSeconds is the step's wall time.
func (s Step) DurationSeconds() float64 { return secondsBetween(s.StartedAt, s.FinishedAt) }

// SLOResult is one objective judged against what was measured.
type SLOResult struct {
	// Name is availability, latency_p95, error_rate, recovery_time, ttft_p95,
	// throughput, goodput, rto or rpo.
	Name string `json:"name"`
	// Kind is what the objective measures (availability, latency, ttft,
	// error_rate, recovery_time, throughput, goodput, goodput_rate, rto,
	// rpo); Name may be an OpenSLO objective's own.
	Kind string `json:"kind,omitempty"`
	// Target and Actual are in Unit (ratio for fractions, seconds, rps).
	Target float64 `json:"target"`
	Actual float64 `json:"actual"`
	// Op is how Actual must relate to Target: ">=" or "<=".
	Op   string `json:"op,omitempty"`
	Unit string `json:"unit,omitempty"`
	// Compliant is whether Actual met Target; false when not measured.
	Compliant bool `json:"compliant"`
	// NotMeasured is set when the run gave nothing to judge (no requests,
	// no streamed token for a TTFT objective, no restore for an RTO): Actual
	// is then 0 and means nothing, and the objective counts as not met.
	NotMeasured bool `json:"not_measured,omitempty"`
	// NotEvaluated is set for an objective the drill cannot judge by its
	// nature (an OpenSLO SLI on something its probes do not measure):
	// Detail says why. It is neither met nor breached: it does not fail the
	// run, and JUnit lists it as skipped.
	NotEvaluated bool `json:"not_evaluated,omitempty"`
	// Detail says in words what was compared ("longest outage 3.500s vs at
	// most 15.000s (2 outages)").
	Detail string `json:"detail,omitempty"`
	// BudgetConsumed is the fraction of the error budget used (availability-like SLOs).
	BudgetConsumed *float64 `json:"budget_consumed,omitempty"`
	// BurnRate is the observed error ratio / (1 - objective).
	BurnRate *float64 `json:"burn_rate,omitempty"`
}

// Service is one service of the stack, with versions before and after the drill.
type Service struct {
	Name          string `json:"name"`
	Role          string `json:"role"`
	URL           string `json:"url,omitempty"`
	Image         string `json:"image,omitempty"`
	VersionBefore string `json:"version_before,omitempty"`
	VersionAfter  string `json:"version_after,omitempty"`
}

// Capabilities says what the kernel and the stack allowed, and the
// fallbacks used instead.
type Capabilities struct {
	// Netem is whether sch_netem was available.
	Netem bool `json:"netem"`
	// LatencyMechanism is how delays were injected (netem, toxiproxy, ...).
	LatencyMechanism string `json:"latency_mechanism,omitempty"`
	// LossMechanism is how packet loss was injected (netem, nftables numgen, ...).
	LossMechanism string `json:"loss_mechanism,omitempty"`
	Nftables      bool   `json:"nftables"`
	// GPU is how GPU processes were found (nvidia-smi, nvidia-smi shim, none).
	GPU        string `json:"gpu,omitempty"`
	Prometheus bool   `json:"prometheus"`
	// StackKind is the stack provider: containers, docker or endpoints.
	StackKind string `json:"stack_kind,omitempty"`
	// Extra holds further capabilities by name.
	Extra map[string]string `json:"extra,omitempty"`
	// Notes explain fallbacks and what they mean for the results.
	Notes []string `json:"notes,omitempty"`
}

// DR is the disaster-recovery measurement of a drill with backup and restore.
type DR struct {
	RTOSeconds *float64 `json:"rto_seconds,omitempty"`
	RPOSeconds *float64 `json:"rpo_seconds,omitempty"`
	// RPORows is how many rows written after the backup were lost.
	RPORows *int64 `json:"rpo_rows,omitempty"`
	// GoldenPromptMatch is whether the golden prompt answered the same after the restore.
	GoldenPromptMatch *bool `json:"golden_prompt_match,omitempty"`
	// BackupDir is where the snapshot was stored.
	BackupDir string `json:"backup_dir,omitempty"`
	// Phases are the RTO's phases (restore copy, model load, healthy, first token).
	Phases []Phase  `json:"phases,omitempty"`
	Notes  []string `json:"notes,omitempty"`
}

// Rollout is one update performed during the drill.
type Rollout struct {
	// Kind is rolling-update, blue-green, canary, gateway-update or rollback.
	Kind   string `json:"kind"`
	Target string `json:"target"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	// FailedRequests is what the probe saw fail during the rollout.
	FailedRequests int64 `json:"failed_requests"`
	// Decision is promoted, rolled-back, completed or aborted.
	Decision        string   `json:"decision"`
	DurationSeconds float64  `json:"duration_seconds,omitempty"`
	SwitchSeconds   *float64 `json:"switch_seconds,omitempty"`
	RollbackSeconds *float64 `json:"rollback_seconds,omitempty"`
	// Evidence lists the analysis behind the decision, one line each.
	Evidence []string `json:"evidence,omitempty"`
	// Deployments are the Kubernetes Deployments the rollout changed, in
	// order (rollout_kube.go).
	Deployments []DeploymentRollout `json:"deployments,omitempty"`
	// AutoRollback says when, why and to what a failed analysis rolled
	// the rollout back.
	AutoRollback *AutoRollback `json:"auto_rollback,omitempty"`
	// Backup is the verified backup taken before the rollout (validation.go).
	Backup *BackupRef `json:"backup,omitempty"`
}

// Alert is an alert the drill expected or observed.
type Alert struct {
	Name string `json:"name"`
	// Step is the fault step the alert relates to.
	Step       string     `json:"step,omitempty"`
	FiredAt    *time.Time `json:"fired_at,omitempty"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	// DelaySeconds is from the fault to the alert firing.
	DelaySeconds *float64 `json:"delay_seconds,omitempty"`
	// Notified is whether a receiver got the notification (Alertmanager webhook).
	Notified bool `json:"notified,omitempty"`
}

// K6 is the summary of a k6 run beside the probe.
type K6 struct {
	Script string `json:"script,omitempty"`
	// Metrics maps a k6 metric to its summary values (avg, p(95), rate, count, ...).
	Metrics map[string]map[string]float64 `json:"metrics,omitempty"`
	// Thresholds maps a threshold expression to whether it held.
	Thresholds map[string]bool `json:"thresholds,omitempty"`
}

// Environment is where the drill ran.
type Environment struct {
	Host        string `json:"host,omitempty"`
	Kernel      string `json:"kernel,omitempty"`
	OS          string `json:"os,omitempty"`
	Arch        string `json:"arch,omitempty"`
	CPUs        int    `json:"cpus,omitempty"`
	GoVersion   string `json:"go_version,omitempty"`
	ToolVersion string `json:"tool_version,omitempty"`
}

// Timeline is a compact view of the run for charts: fixed-width buckets of
// probe results, the fault windows and the events.
type Timeline struct {
	BucketSeconds float64         `json:"bucket_seconds,omitempty"`
	Buckets       []Bucket        `json:"buckets,omitempty"`
	Faults        []FaultWindow   `json:"faults,omitempty"`
	Events        []TimelineEvent `json:"events,omitempty"`
}

// Bucket is one slice of the timeline.
type Bucket struct {
	// T is the bucket's start.
	T        time.Time `json:"t"`
	Requests int64     `json:"requests"`
	// Success is good/total in the bucket (1 when empty).
	Success float64 `json:"success"`
	// P95 is the bucket's p95 latency in seconds.
	P95 float64 `json:"p95"`
}

// FaultWindow is when a fault was in force.
type FaultWindow struct {
	Step   string    `json:"step"`
	Kind   string    `json:"kind"`
	Target string    `json:"target,omitempty"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
}

// TimelineEvent is a marker on the timeline.
type TimelineEvent struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	Step   string    `json:"step,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// DurationSeconds is the drill's wall time.
func (r *Report) DurationSeconds() float64 { return secondsBetween(r.StartedAt, r.FinishedAt) }

func secondsBetween(a, b time.Time) float64 {
	if a.IsZero() || b.IsZero() || b.Before(a) {
		return 0
	}
	return b.Sub(a).Seconds()
}

// Grade maps a request-based availability fraction to the seed's grades:
// A+ >= 99.9 %, A >= 99.5 %, B >= 99.0 %, C >= 98.0 %, else D.
func Grade(availability float64) string {
	switch {
	case availability >= 0.999:
		return "A+"
	case availability >= 0.995:
		return "A"
	case availability >= 0.99:
		return "B"
	case availability >= 0.98:
		return "C"
	default:
		return "D"
	}
}
