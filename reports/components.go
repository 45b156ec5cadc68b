package reports

import "time"

// Component phase names, in the order a recovery usually passes them.
const (
	PhaseDetected    = "detected"     // the first failed direct check
	PhaseProcessBack = "process-back" // the service's processes ran again
	PhaseModelLoaded = "model-loaded" // the server stopped reporting that it loads
	PhaseReady       = "ready"        // /health answered 200 again for good
	PhaseFirstToken  = "first-token"  // the first token of a completion that kept succeeding
	PhaseInRotation  = "in-rotation"  // the gateway had it back in rotation
)

// Phase statuses.
const (
	PhaseMeasured      = "measured"
	PhaseNotMeasured   = "not-measured"   // it could not be observed (Note says why)
	PhaseNotApplicable = "not-applicable" // the service never left that state
)

// ComponentRecovery is how the services that faults and restores hurt
// recovered, measured directly (their health, a tiny completion with a
// deadline, the gateway's view, their processes), beside what users felt
// through the gateway. Its MTTR and MTBF are over component outages; the
// report's mttr_seconds and mtbf_seconds are over user-visible ones.
type ComponentRecovery struct {
	// Rule confirms a component outage and its recovery.
	Rule ConfirmationRule `json:"rule"`
	// IntervalSeconds is the time between two direct checks.
	IntervalSeconds float64 `json:"interval_seconds"`
	// MTTRSeconds is the mean component outage duration; null without
	// component outages.
	MTTRSeconds *float64 `json:"mttr_seconds"`
	// MTBFSeconds is the drill's time with every watched component up,
	// divided by the component outages; null without them.
	MTBFSeconds *float64 `json:"mtbf_seconds"`
	// DowntimeSeconds sums the component outages.
	DowntimeSeconds float64 `json:"downtime_seconds"`
	// Outages are the distinct component outages (a service down once
	// counts once, whatever steps hit it meanwhile).
	Outages []ComponentOutage `json:"outages"`
	// Steps has one entry per fault or restore and service it hurt.
	Steps []StepRecovery `json:"steps"`
}

// ConfirmationRule is how many consecutive failed checks open an outage and
// how many good ones close it.
type ConfirmationRule struct {
	Failures  int `json:"failures"`
	Successes int `json:"successes"`
}

// ComponentOutage is a span during which a service failed its direct checks.
type ComponentOutage struct {
	Service         string    `json:"service"`
	Start           time.Time `json:"start"`
	End             time.Time `json:"end"`
	DurationSeconds float64   `json:"duration_seconds"`
	// Ongoing: not recovered when the drill ended.
	Ongoing bool `json:"ongoing,omitempty"`
	// Cause is the step that began it.
	Cause string `json:"cause,omitempty"`
}

// StepRecovery is one service's recovery from one step, next to what
// users felt meanwhile.
type StepRecovery struct {
	Step string `json:"step"`
	// Kind is the step's kind (fault:gpu-kill, action:restore).
	Kind    string    `json:"kind"`
	Service string    `json:"service"`
	At      time.Time `json:"at"`
	// Outage says whether the service failed its direct checks after the step.
	Outage bool `json:"outage"`
	// Since names the earlier step whose outage was still under way when
	// this step began.
	Since string `json:"since,omitempty"`
	// Start and End bound the component outage; DowntimeSeconds is its
	// length, RecoverySeconds the time from this step to its end.
	Start           *time.Time `json:"start,omitempty"`
	End             *time.Time `json:"end,omitempty"`
	DowntimeSeconds *float64   `json:"downtime_seconds,omitempty"`
	RecoverySeconds *float64   `json:"recovery_seconds,omitempty"`
	Ongoing         bool       `json:"ongoing,omitempty"`
	// Phases are the recovery's phases, from the step's time.
	Phases []ComponentPhase `json:"phases,omitempty"`
	// Users is what the users' probe saw during the component outage.
	Users *UserImpact `json:"users,omitempty"`
	// Note says what else there is to know ("no failed check").
	Note string `json:"note,omitempty"`
}

// ComponentPhase is one phase of a component's recovery.
type ComponentPhase struct {
	Name string `json:"name"`
	// Status is measured, not-measured or not-applicable.
	Status string     `json:"status"`
	At     *time.Time `json:"at,omitempty"`
	// Seconds is from the step's time; null unless measured.
	Seconds *float64 `json:"seconds"`
	Note    string   `json:"note,omitempty"`
}

// UserImpact is what the users' probe (through the gateway) saw while a
// component was out.
type UserImpact struct {
	Requests int64 `json:"requests"`
	Failed   int64 `json:"failed"`
	// P95Seconds is the requests' p95 latency (null without requests).
	P95Seconds *float64 `json:"p95_seconds"`
	// BaselineP95Seconds is the p95 before the first fault (null without
	// requests then); ExtraP95Seconds is how much higher P95Seconds was.
	BaselineP95Seconds *float64 `json:"baseline_p95_seconds"`
	ExtraP95Seconds    *float64 `json:"extra_p95_seconds"`
	// OutageSeconds is the user-visible outage time within the component
	// outage.
	OutageSeconds float64 `json:"outage_seconds"`
}

// ServiceAvailability is one service's own availability, probed directly
// beside the users' probe.
type ServiceAvailability struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Mode is health, chat or stream.
	Mode            string  `json:"mode"`
	IntervalSeconds float64 `json:"interval_seconds"`
	Requests        int64   `json:"requests"`
	Failed          int64   `json:"failed"`
	// Availability is request-based, 0..1 (null without requests).
	Availability *float64 `json:"availability"`
	// P95Seconds is the p95 latency of every request (null without requests).
	P95Seconds *float64 `json:"p95_seconds"`
	// Outages under the confirmation rule.
	Outages []Outage `json:"outages"`
	// MTTRSeconds is their mean duration; null without outages.
	MTTRSeconds *float64 `json:"mttr_seconds"`
}

// Phase returns the step's phase by name.
func (s StepRecovery) Phase(name string) (ComponentPhase, bool) {
	for _, p := range s.Phases {
		if p.Name == name {
			return p, true
		}
	}
	return ComponentPhase{}, false
}
