package slo

import (
	"fmt"
	"strconv"
	"time"
	_ "time/tzdata" // calendar windows name IANA zones; a host may lack /usr/share/zoneinfo

	"github.com/aiuptime/aiuptime/internal/yamldoc"
	"github.com/aiuptime/aiuptime/units"
)

// calendarLayout is OpenSLO's calendar.startTime: a date and a 24-hour
// time without a zone (the zone is timeZone).
const calendarLayout = "2006-01-02 15:04:05"

// window reads spec.timeWindow (optional; exactly one item) into period.
func (m *sloMapper) window() {
	ws := m.s.Spec.TimeWindow
	if len(ws) == 0 {
		return
	}
	if len(ws) > 1 {
		m.bad(m.at("timeWindow", 1), "timeWindow holds exactly one window")
		return
	}
	w, at := ws[0], m.at("timeWindow", 0)
	rolling := w.IsRolling != nil && *w.IsRolling
	switch {
	case rolling && w.Calendar != nil:
		m.bad(at.Add("calendar"), "a rolling window has no calendar (isRolling: true)")
	case rolling:
		d, err := shorthand(w.Duration, time.Time{})
		if err != nil {
			m.bad(at.Add("duration"), "%v", err)
			return
		}
		m.period = d
	case w.Calendar != nil:
		m.calendar(w, at)
	default:
		m.bad(at, "isRolling: true for a rolling window, or a calendar for a calendar-aligned one")
	}
}

// calendar reads a calendar-aligned window: its period is the first
// window's length from startTime in timeZone (a month from 1 January is
// 31 days).
func (m *sloMapper) calendar(w osWindow, at yamldoc.Path) {
	c := w.Calendar
	loc, err := time.LoadLocation(c.TimeZone)
	if c.TimeZone == "" || err != nil {
		m.bad(at.Add("calendar", "timeZone"), "%q: want an IANA time zone name such as Europe/Berlin", c.TimeZone)
		return
	}
	start, err := time.ParseInLocation(calendarLayout, c.StartTime, loc)
	if err != nil {
		if start, err = time.ParseInLocation(time.DateOnly, c.StartTime, loc); err != nil {
			m.bad(at.Add("calendar", "startTime"), "%q: want a date and time such as 2024-01-01 00:00:00", c.StartTime)
			return
		}
	}
	d, err := shorthand(w.Duration, start)
	if err != nil {
		m.bad(at.Add("duration"), "%v", err)
		return
	}
	m.period = d
}

// shorthand reads an OpenSLO duration shorthand: a positive integer and
// one of m, h, d, w, M, Q, Y. M, Q and Y are calendar months, quarters and
// years from start, or 30, 90 and 365 days when start is zero (a rolling
// window).
func shorthand(s string, start time.Time) (time.Duration, error) {
	if len(s) < 2 {
		return 0, fmt.Errorf("%q: want a duration shorthand such as 28d, 1w or 1M", s)
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n <= 0 || n > 100000 {
		return 0, fmt.Errorf("%q: want a positive whole number then m, h, d, w, M, Q or Y", s)
	}
	months := map[byte]int{'M': 1, 'Q': 3, 'Y': 12}
	days := map[byte]int{'M': 30, 'Q': 90, 'Y': 365}
	if mo, ok := months[s[len(s)-1]]; ok {
		if n*days[s[len(s)-1]] > 100*365 {
			return 0, fmt.Errorf("%q: longer than 100 years", s)
		}
		if start.IsZero() {
			return time.Duration(n*days[s[len(s)-1]]) * 24 * time.Hour, nil
		}
		return start.AddDate(0, n*mo, 0).Sub(start), nil
	}
	switch s[len(s)-1] {
	case 'm', 'h', 'd', 'w':
		return units.ParseDuration(s)
	}
	return 0, fmt.Errorf("%q: unknown unit %q (want m, h, d, w, M, Q or Y)", s, s[len(s)-1:])
}

// sliceWindow reads timeSliceWindow: a number of minutes or a duration
// (1m, 30s, 5m).
func sliceWindow(v any) (time.Duration, error) {
	var d time.Duration
	switch x := v.(type) {
	case uint64:
		d = time.Duration(x) * time.Minute
	case int64:
		d = time.Duration(x) * time.Minute
	case float64:
		d = time.Duration(x * float64(time.Minute))
	case string:
		p, err := units.ParseDuration(x)
		if err != nil {
			return 0, err
		}
		d = p
	default:
		return 0, fmt.Errorf("want a number of minutes or a duration such as 1m, got %v", v)
	}
	if d < time.Second {
		return 0, fmt.Errorf("%v: a time slice is at least 1s", v)
	}
	return d, nil
}
