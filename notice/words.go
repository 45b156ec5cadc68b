package notice

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aiuptime/aiuptime/calendar"
	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/drill/plan"
)

// actionWords names each action kind for people.
var actionWords = map[string]string{
	"rolling-update": "rolling update of the model servers",
	"blue-green":     "blue-green switch of the model servers",
	"canary":         "canary release of the model servers",
	"rollback":       "roll back the last update",
	"gateway-update": "update of the gateway",
	"model-update":   "rolling update to a new model version",
	"backup":         "verified backup of configuration, models and gateway data",
	"restore":        "restore from a verified backup",
	"validate":       "validation after the update: functional checks and a performance comparison against the baseline",
}

// actionParams are the params of an action a customer cares about, in the
// order they are told.
var actionParams = []string{"version", "image", "args", "steps", "promote", "rollback_after", "only"}

// changes is the plan's steps in words.
func changes(p *plan.Plan) []Change {
	var out []Change
	for _, s := range p.Steps {
		out = append(out, Change{Step: s.Name, Text: stepText(s)})
	}
	return out
}

// stepText says what one step does.
func stepText(s plan.Step) string {
	switch {
	case s.Fault != "":
		t := fmt.Sprintf("fault %s on %s", s.Fault, targetText(s.Target, "its target"))
		if ps := paramText(s.Params, slices.Sorted(maps.Keys(s.Params))); ps != "" {
			t += " (" + ps + ")"
		}
		if s.Duration > 0 {
			t += ", for " + s.Duration.String()
		}
		if k, err := chaos.LookupKind(s.Fault); err == nil && k.Description != "" {
			t += ": " + k.Description
		}
		return t
	case s.Action != "":
		w := actionWords[s.Action]
		if w == "" {
			w = s.Action
		}
		t := fmt.Sprintf("%s (%s)", w, s.Action)
		if s.Target != nil {
			t += " on " + targetText(s.Target, "")
		}
		if ps := paramText(s.Params, actionParams); ps != "" {
			t += ": " + ps
		}
		return t
	case s.Await != nil:
		t := "wait until " + s.Await.String()
		if s.Target != nil {
			t += " (" + targetText(s.Target, "") + ")"
		}
		if s.Timeout > 0 {
			t += ", at most " + s.Timeout.String()
		}
		return t
	case s.Revert != "":
		return fmt.Sprintf("revert the fault of step %q", s.Revert)
	case s.Wait > 0:
		return "observe the service for " + s.Wait.String() + "; nothing changes"
	}
	return "nothing"
}

// targetText renders a step's target, or def without one.
func targetText(t *plan.Target, def string) string {
	if t == nil {
		return def
	}
	return t.String()
}

// paramText renders the params named in keys that are set: "version
// 1.1.0, args --server-version 0.10.3".
func paramText(params map[string]any, keys []string) string {
	var parts []string
	for _, k := range keys {
		if v, ok := params[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %v", k, v))
		}
	}
	return strings.Join(parts, ", ")
}

// when says when the change happens, and returns the next occurrence of
// the window when there is one to wait for.
func when(w *calendar.Window, critical bool, now time.Time) ([]string, *calendar.Span) {
	switch {
	case critical:
		lines := []string{"Critical: applied at once, without waiting for a maintenance window."}
		if w != nil && !w.Always {
			lines = append(lines, "The plan's usual window ("+w.String()+") does not hold it back.")
		}
		return lines, nil
	case w == nil:
		return []string{"No window: any time. The plan names no maintenance window, so it may run whenever it is started."}, nil
	case w.Always:
		return []string{"Any time: the plan's maintenance window is always open."}, nil
	}
	s := w.Next(now)
	if s.Start.IsZero() {
		return []string{"The window " + w.String() + " opens no more within a year."}, nil
	}
	next := "Next window: " + spanText(s, w.Loc) + ", that is " + spanText(s, time.UTC) + "."
	if w.Loc.String() == "UTC" {
		next = "Next window: " + spanText(s, time.UTC) + "."
	}
	lines := []string{next, "The window repeats: " + w.String() + "."}
	if !s.Start.After(now) {
		lines = append(lines, "The window is open now.")
	} else {
		days := s.Start.Sub(now).Hours() / 24
		lines = append(lines, fmt.Sprintf("It opens in %.1f days.", days))
		if days < 7 {
			lines = append(lines, "This is less than a week's notice: customers are to be told one to two weeks ahead.")
		}
	}
	return lines, &s
}

// spanText renders s in loc: "Sat 2026-12-05 02:00 to 06:00 CET", with the
// end's date when it falls on another day.
func spanText(s calendar.Span, loc *time.Location) string {
	a, b := s.Start.In(loc), s.End.In(loc)
	end := b.Format("15:04 MST")
	if a.YearDay() != b.YearDay() || a.Year() != b.Year() {
		end = b.Format("Mon 2006-01-02 15:04 MST")
	}
	zone := ""
	if loc != time.UTC && loc.String() != "UTC" {
		zone = " (" + loc.String() + ")"
	}
	return a.Format("Mon 2006-01-02 15:04") + " to " + end + zone
}
