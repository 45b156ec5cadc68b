package plan

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/calendar"
)

// windowPlan is a one-step plan with the window written at line 2.
func windowPlan(window string) string {
	return "name: w\nwindow: " + window + "\nsteps:\n  - {name: a, wait: 1s}\n"
}

func TestWindowDecodes(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	for _, tc := range []struct {
		name     string
		window   string
		critical bool
		want     calendar.Window
	}{
		{"mapping, quoted times", `{days: [sat, sun], start: "02:00", end: "06:00", tz: Europe/Berlin, cadence: monthly}`, false,
			calendar.Window{Days: []time.Weekday{time.Sunday, time.Saturday}, Start: 2 * time.Hour, End: 6 * time.Hour, Loc: berlin, Cadence: calendar.Monthly}},
		// YAML 1.1 reads 22:30 unquoted as a base-60 number: the source text is kept.
		{"block mapping, unquoted times, critical", "\n  days: [Friday]\n  start: 22:30\n  end: 02:00\n  critical: true", true,
			calendar.Window{Days: []time.Weekday{time.Friday}, Start: 22*time.Hour + 30*time.Minute, End: 2 * time.Hour, Loc: time.UTC, Cadence: calendar.Weekly}},
		{"scalar any", "any", false, calendar.Any()},
		{"days [any]", "{days: [any]}", false, calendar.Any()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse("w.yaml", []byte(windowPlan(tc.window)))
			if err != nil {
				t.Fatal(err)
			}
			if p.Window == nil || p.Window.Critical != tc.critical {
				t.Fatalf("window = %+v, want critical %v", p.Window, tc.critical)
			}
			got, err := p.Window.Calendar()
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tc.want.String() || got.Always != tc.want.Always || got.Loc.String() != tc.want.Loc.String() {
				t.Errorf("calendar = %s (always %v, %s), want %s", got, got.Always, got.Loc, tc.want)
			}
		})
	}
	var none *Window
	if w, err := none.Calendar(); err != nil || !w.Always {
		t.Errorf("a plan without a window runs at any time: %v %+v", err, w)
	}
}

func TestWindowErrorsAtTheField(t *testing.T) {
	for _, tc := range []struct {
		name, window, want string
	}{
		{"unknown time zone", "\n  days: [sat]\n  start: \"02:00\"\n  end: \"06:00\"\n  tz: Mars/Base",
			`w.yaml:6:7: window.tz: unknown time zone "Mars/Base"`},
		{"unknown day, second in the list", `{days: [sat, caturday], start: "02:00", end: "06:00"}`,
			`w.yaml:2:22: window.days[1]: unknown weekday "caturday"`},
		{"any among weekdays", `{days: [sat, any], start: "02:00", end: "06:00"}`,
			`w.yaml:2:22: window.days[1]: "any" stands alone`},
		{"time of day out of range", "\n  days: [sat]\n  start: \"02:00\"\n  end: \"25:00\"",
			`w.yaml:5:8: window.end: invalid time of day "25:00"`},
		{"start missing", "\n  days: [sat]\n  end: \"06:00\"",
			`w.yaml:3:3: window.start: required`},
		{"unknown cadence", `{days: [sat], start: "02:00", end: "06:00", cadence: daily}`,
			`w.yaml:2:62: window.cadence: unknown cadence "daily"`},
		{"unknown key", `{days: [sat], start: "02:00", end: "06:00", timezone: UTC}`,
			`w.yaml:2:53: window.timezone: unknown key "timezone"`},
		{"another scalar", "always", `w.yaml:2:9: window: want any or a mapping`},
		{"a list", "[sat]", `w.yaml:2:9: window: want any or a mapping`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("w.yaml", []byte(windowPlan(tc.window)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error:\n%v\nwant it to hold:\n%s", err, tc.want)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Errorf("not a plan error: %T", err)
			}
		})
	}
}

func TestWindowErrorfPointsAtTheWindow(t *testing.T) {
	p, err := Parse("w.yaml", []byte("name: w\nsteps:\n  - {name: a, wait: 1s}\nwindow: {days: [sat], start: \"02:00\", end: \"06:00\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.WindowErrorf("outside").Error(), "w.yaml:4:1: window: outside"; got != want {
		t.Errorf("WindowErrorf = %q, want %q", got, want)
	}
}
