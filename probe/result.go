// Package probe sends continuous synthetic traffic to a service and reports
// one Result per request.
package probe

import "time"

// Outcome classifies how a request ended.
type Outcome uint8

// Outcomes. Anything but OK counts against availability and goodput.
const (
	OK        Outcome = iota // complete answer
	Error                    // transport error or non-2xx status, or an error event
	Timeout                  // per-request deadline passed
	Truncated                // stream ended without [DONE] or without finish_reason
	Stalled                  // a gap between tokens exceeded the stall threshold
)

var outcomeNames = [...]string{"ok", "error", "timeout", "truncated", "stalled"}

// String returns the outcome's name as it appears in reports.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// Good reports whether the request counts as a success.
func (o Outcome) Good() bool { return o == OK }

// Result is the record of one probe request.
type Result struct {
	Seq uint64
	// Start is the intended send time (open loop), so latency includes any
	// time the request waited for a free slot: no coordinated omission.
	Start time.Time
	// Latency is from Start to the last byte (E2E).
	Latency time.Duration
	// TTFT is from Start to the first content token (streams; 0 otherwise).
	TTFT time.Duration
	// ITL holds the gaps between consecutive tokens (streams only).
	ITL    []time.Duration
	Tokens int
	// Code is the HTTP status (0 when no response arrived).
	Code    int
	Err     string
	Outcome Outcome
	// Backend is the deployment that answered (x-litellm-model-id), if known.
	Backend string
	// Sent is when the request actually left: Start plus scheduler lag and
	// any wait for a concurrency slot (zero if it never left). It is when
	// the request observed the service, so outage boundaries use it, while
	// latency still counts from Start.
	Sent time.Time
}

// Observed is when the request observed the service: Sent, or Start when
// Sent is unknown.
func (r Result) Observed() time.Time {
	if r.Sent.IsZero() {
		return r.Start
	}
	return r.Sent
}

// End is when the request finished.
func (r Result) End() time.Time { return r.Start.Add(r.Latency) }
