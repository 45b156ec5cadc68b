// Package calendar holds maintenance windows: when a plan may run (a
// weekday and time range in a time zone, repeating weekly, monthly or
// quarterly, or at any time), whether a time lies inside one, when the next
// one opens, and the same windows written as a systemd OnCalendar
// expression and a cron schedule.
package calendar

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Cadence is how often a window repeats.
type Cadence string

// The cadences: every matching weekday; the first matching weekday of each
// month (days 1-7); the first matching weekday of January, April, July and
// October.
const (
	Weekly    Cadence = "weekly"
	Monthly   Cadence = "monthly"
	Quarterly Cadence = "quarterly"
)

// Cadences lists the cadences, for errors and schemas.
var Cadences = []Cadence{Weekly, Monthly, Quarterly}

// ErrInvalid marks a window that cannot be parsed; the message names the field.
var ErrInvalid = errors.New("invalid maintenance window")

// Window is a parsed maintenance window. The zero value is not valid; use
// Parse or Any.
type Window struct {
	// Always is true for a window that is always open ("any").
	Always bool
	// Days are the weekdays a window opens on, in week order.
	Days []time.Weekday
	// Start and End are the local times of day it opens and closes,
	// as offsets from midnight; End <= Start means it closes the next day.
	Start, End time.Duration
	// Loc is the time zone Start and End are read in.
	Loc *time.Location
	// Cadence is how often it repeats.
	Cadence Cadence
}

// Span is one occurrence of a window: [Start, End).
type Span struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Any is the window that is always open.
func Any() Window { return Window{Always: true, Loc: time.UTC} }

// Spec is a window as written: weekday names ("sat", "saturday", or "any"
// alone), "HH:MM" times, an IANA time zone (default UTC) and a cadence
// (default weekly).
type Spec struct {
	Days    []string
	Start   string
	End     string
	TZ      string
	Cadence string
}

// FieldError is a problem with one field of a Spec.
type FieldError struct {
	Field string // days, start, end, tz or cadence
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *FieldError) Unwrap() error { return ErrInvalid }

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseWeekday reads a weekday: its English name or first three letters,
// in any case.
func ParseWeekday(s string) (time.Weekday, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) < 3 {
		return 0, false
	}
	d, ok := weekdays[s[:3]]
	if !ok || (len(s) > 3 && s != strings.ToLower(d.String())) {
		return 0, false
	}
	return d, true
}

// ParseClock reads a time of day "HH:MM" (00:00 to 24:00) as an offset
// from midnight.
func ParseClock(s string) (time.Duration, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("invalid time of day %q: want HH:MM, 00:00 to 24:00", s)
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
}

// Parse reads a window. Every problem is a *FieldError naming its field
// (the first one found).
func Parse(s Spec) (Window, error) {
	if len(s.Days) == 1 && strings.EqualFold(strings.TrimSpace(s.Days[0]), "any") {
		if s.Start != "" || s.End != "" || s.Cadence != "" {
			return Window{}, &FieldError{"days", `"any" takes no start, end or cadence`}
		}
		return Any(), nil
	}
	w := Window{Loc: time.UTC, Cadence: Weekly}
	if len(s.Days) == 0 {
		return Window{}, &FieldError{"days", `want at least one weekday (mon ... sun), or "any"`}
	}
	for _, d := range s.Days {
		wd, ok := ParseWeekday(d)
		if !ok {
			return Window{}, &FieldError{"days", fmt.Sprintf("unknown weekday %q (want mon, tue, wed, thu, fri, sat, sun, or \"any\" alone)", d)}
		}
		if !slices.Contains(w.Days, wd) {
			w.Days = append(w.Days, wd)
		}
	}
	slices.Sort(w.Days)
	var err error
	if w.Start, err = ParseClock(s.Start); err != nil {
		return Window{}, &FieldError{"start", err.Error()}
	}
	if w.End, err = ParseClock(s.End); err != nil {
		return Window{}, &FieldError{"end", err.Error()}
	}
	if w.Start == w.End {
		return Window{}, &FieldError{"end", "the window closes when it opens: give a time range"}
	}
	if s.TZ != "" {
		if w.Loc, err = time.LoadLocation(s.TZ); err != nil {
			return Window{}, &FieldError{"tz", fmt.Sprintf("unknown time zone %q: want an IANA name such as Europe/Berlin or UTC", s.TZ)}
		}
	}
	if s.Cadence != "" {
		w.Cadence = Cadence(strings.ToLower(s.Cadence))
		if !slices.Contains(Cadences, w.Cadence) {
			return Window{}, &FieldError{"cadence", fmt.Sprintf("unknown cadence %q (want weekly, monthly or quarterly)", s.Cadence)}
		}
	}
	return w, nil
}

// Length is how long each occurrence lasts (0 for Always).
func (w Window) Length() time.Duration {
	if w.Always {
		return 0
	}
	if w.End > w.Start {
		return w.End - w.Start
	}
	return 24*time.Hour - w.Start + w.End
}

// opensOn reports whether an occurrence starts on the local date of day.
func (w Window) opensOn(day time.Time) bool {
	if !slices.Contains(w.Days, day.Weekday()) {
		return false
	}
	switch w.Cadence {
	case Monthly:
		return day.Day() <= 7
	case Quarterly:
		return day.Day() <= 7 && (day.Month()-1)%3 == 0
	}
	return true
}

// occurrence is the span that opens on the local date y-m-d.
func (w Window) occurrence(y int, m time.Month, d int) Span {
	// Wall-clock arithmetic, so a window keeps its local hours across DST.
	sh, sm := int(w.Start/time.Hour), int(w.Start%time.Hour/time.Minute)
	eh, em := int(w.End/time.Hour), int(w.End%time.Hour/time.Minute)
	start := time.Date(y, m, d, sh, sm, 0, 0, w.Loc)
	ed := d
	if w.End <= w.Start {
		ed++
	}
	return Span{Start: start, End: time.Date(y, m, ed, eh, em, 0, 0, w.Loc)}
}

// horizon bounds the search for the next occurrence: a quarterly window
// opens at least once in any 100 days, so 400 days always find one.
const horizon = 400

// Next returns the occurrence in force at t, or else the next one to open
// after t. For Always it returns a span from t that never ends.
func (w Window) Next(t time.Time) Span {
	if w.Always {
		return Span{Start: t, End: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)}
	}
	local := t.In(w.Loc)
	y, m, d := local.Date()
	for i := -1; i < horizon; i++ {
		day := time.Date(y, m, d+i, 12, 0, 0, 0, w.Loc)
		if !w.opensOn(day) {
			continue
		}
		s := w.occurrence(day.Date())
		if s.End.After(t) {
			return s
		}
	}
	return Span{}
}

// Contains reports whether t lies inside an occurrence of w.
func (w Window) Contains(t time.Time) bool {
	if w.Always {
		return true
	}
	s := w.Next(t)
	return !s.Start.After(t) && t.Before(s.End)
}

// Upcoming returns the next n occurrences that open at or after t (the one
// in force at t first, if any).
func (w Window) Upcoming(t time.Time, n int) []Span {
	if w.Always {
		return nil
	}
	var out []Span
	for len(out) < n {
		s := w.Next(t)
		if s.Start.IsZero() {
			break
		}
		out = append(out, s)
		t = s.End
	}
	return out
}

func clock(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// String describes the window for people: "sat 02:00-06:00 Europe/Berlin,
// the first of each month".
func (w Window) String() string {
	if w.Always {
		return "any time"
	}
	days := make([]string, len(w.Days))
	for i, d := range w.Days {
		days[i] = strings.ToLower(d.String()[:3])
	}
	s := fmt.Sprintf("%s %s-%s %s", strings.Join(days, ","), clock(w.Start), clock(w.End), w.Loc)
	switch w.Cadence {
	case Monthly:
		s += ", the first of each month"
	case Quarterly:
		s += ", the first of January, April, July and October"
	default:
		s += ", every week"
	}
	return s
}

func dayNames(ds []time.Weekday) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()[:3]
	}
	return out
}

// OnCalendar is the window's opening times as a systemd.time(7) calendar
// event: "Sat *-*-01..07 02:00:00 Europe/Berlin" for the first Saturday of
// each month. Empty for Always (a timer has nothing to wait for).
func (w Window) OnCalendar() string {
	if w.Always {
		return ""
	}
	date := "*-*-*"
	switch w.Cadence {
	case Monthly:
		date = "*-*-01..07"
	case Quarterly:
		date = "*-01,04,07,10-01..07"
	}
	return fmt.Sprintf("%s %s %s:00 %s", strings.Join(dayNames(w.Days), ","), date, clock(w.Start), w.Loc)
}

// Cron is the window's opening times as a five-field cron schedule in the
// window's time zone (a CronJob's timeZone). Cron ORs day-of-month with
// day-of-week, so it cannot say "the first Saturday": for monthly and
// quarterly windows it fires on every matching weekday (of the matching
// months) and exact is false; the job must then skip the runs that fall
// outside the window (drill run --skip-outside-window).
func (w Window) Cron() (schedule string, exact bool) {
	if w.Always {
		return "", false
	}
	nums := make([]string, len(w.Days))
	for i, d := range w.Days {
		nums[i] = strconv.Itoa(int(d))
	}
	months := "*"
	if w.Cadence == Quarterly {
		months = "1,4,7,10"
	}
	return fmt.Sprintf("%d %d * %s %s", int(w.Start%time.Hour/time.Minute), int(w.Start/time.Hour), months, strings.Join(nums, ",")), w.Cadence == Weekly
}
