package reports

import "time"

// WindowCheck records the plan's maintenance window and how the run stood
// against it.
type WindowCheck struct {
	// Window describes the window ("sat 02:00-06:00 UTC, the first of each month", "any time").
	Window string `json:"window"`
	// Inside is whether the run started inside the window.
	Inside bool `json:"inside"`
	// Override is why a run outside the window went ahead: "now" (drill run
	// --now) or "critical" (the plan's window is critical: true).
	Override string `json:"override,omitempty"`
	// NextStart is when the next window opens (absent for "any").
	NextStart *time.Time `json:"next_start,omitempty"`
}
