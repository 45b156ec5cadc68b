package reports

import (
	"fmt"
	"time"
)

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

// windowLines is the brief's line on the maintenance window: which one,
// and whether the run kept to it or went ahead by an override.
func windowLines(r *Report) []string {
	w := r.Window
	if w == nil {
		return nil
	}
	how := "ran inside"
	switch {
	case w.Inside:
	case w.Override == "now":
		how = "ran outside by --now override"
	case w.Override == "critical":
		how = "ran outside: the plan's window is critical (an emergency change goes in at once)"
	default:
		how = "ran outside"
	}
	return []string{fmt.Sprintf("Maintenance window: %s — %s.", w.Window, how)}
}
