// Package uptime turns probe results and drill events into availability,
// outages, MTTR (with phases), MTBF, percentiles, goodput and samples for comparing runs.
package uptime

import "time"

// EventKind classifies a timeline event.
type EventKind string

// Event kinds recorded by the drill runner and the suites.
const (
	StepStarted   EventKind = "step-started"
	StepFinished  EventKind = "step-finished"
	FaultInjected EventKind = "fault-injected"
	FaultReverted EventKind = "fault-reverted"
	ActionStarted EventKind = "action-started"
	ActionDone    EventKind = "action-finished"
	// RolledBack marks an automatic rollback (a failed rollout analysis)
	// and Switched a blue-green switch of traffic, at the moment they
	// happened within an action.
	RolledBack EventKind = "rolled-back"
	Switched   EventKind = "switched"
	// Phase markers for MTTR phases, when a source knows them (e.g. a health
	// poller saw the engine ready again).
	Detected   EventKind = "detected"
	FailedOver EventKind = "failed-over"
	EngineUp   EventKind = "engine-ready"
	FirstToken EventKind = "first-token"
	SLONormal  EventKind = "slo-normal"
)

// Event is something that happened during a run, placed on the timeline.
type Event struct {
	At     time.Time `json:"at"`
	Kind   EventKind `json:"kind"`
	Step   string    `json:"step,omitempty"`
	Target string    `json:"target,omitempty"`
	Detail string    `json:"detail,omitempty"`
}
