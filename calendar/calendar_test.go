package calendar

import (
	"errors"
	"testing"
	"time"
)

func mustParse(t *testing.T, s Spec) Window {
	t.Helper()
	w, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%+v): %v", s, err)
	}
	return w
}

func TestNextAndContains(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, berlin)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	monthly := Spec{Days: []string{"sat"}, Start: "02:00", End: "06:00", TZ: "Europe/Berlin", Cadence: "monthly"}
	quarterly := Spec{Days: []string{"Sunday"}, Start: "01:00", End: "05:00", TZ: "Europe/Berlin", Cadence: "quarterly"}
	night := Spec{Days: []string{"fri"}, Start: "22:00", End: "02:00", TZ: "Europe/Berlin"}
	for _, tc := range []struct {
		name      string
		spec      Spec
		now       string
		inside    bool
		nextStart string
		nextEnd   string
	}{
		// 2026-12-05 is the first Saturday of December 2026.
		{"monthly, before the first Saturday", monthly, "2026-12-02 18:00", false, "2026-12-05 02:00", "2026-12-05 06:00"},
		{"monthly, inside", monthly, "2026-12-05 03:30", true, "2026-12-05 02:00", "2026-12-05 06:00"},
		{"monthly, at the close: the next month", monthly, "2026-12-05 06:00", false, "2027-01-02 02:00", "2027-01-02 06:00"},
		{"monthly, the second Saturday is not a window", monthly, "2026-12-12 03:00", false, "2027-01-02 02:00", "2027-01-02 06:00"},
		{"quarterly, first Sunday of April", quarterly, "2027-02-10 12:00", false, "2027-04-04 01:00", "2027-04-04 05:00"},
		{"across midnight, inside after midnight", night, "2026-12-05 01:00", true, "2026-12-04 22:00", "2026-12-05 02:00"},
		{"across midnight, before", night, "2026-12-04 21:59", false, "2026-12-04 22:00", "2026-12-05 02:00"},
		// Summer time starts 2027-03-28 02:00 in Berlin: a window keeps its local hours.
		{"weekly across the DST change", Spec{Days: []string{"sun"}, Start: "03:00", End: "04:00", TZ: "Europe/Berlin"}, "2027-03-27 12:00", false, "2027-03-28 03:00", "2027-03-28 04:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := mustParse(t, tc.spec)
			now := at(tc.now)
			if got := w.Contains(now); got != tc.inside {
				t.Errorf("Contains(%s) = %v, want %v", tc.now, got, tc.inside)
			}
			s := w.Next(now)
			if !s.Start.Equal(at(tc.nextStart)) || !s.End.Equal(at(tc.nextEnd)) {
				t.Errorf("Next(%s) = %s .. %s, want %s .. %s", tc.now, s.Start.In(berlin), s.End.In(berlin), tc.nextStart, tc.nextEnd)
			}
		})
	}
}

func TestAnyIsAlwaysOpen(t *testing.T) {
	w := mustParse(t, Spec{Days: []string{"any"}})
	if !w.Always || !w.Contains(time.Now()) || w.OnCalendar() != "" || len(w.Upcoming(time.Now(), 3)) != 0 {
		t.Fatalf("any: %+v", w)
	}
}

func TestParseErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		spec  Spec
		field string
	}{
		{Spec{}, "days"},
		{Spec{Days: []string{"caturday"}, Start: "01:00", End: "02:00"}, "days"},
		{Spec{Days: []string{"sat"}, Start: "1am", End: "02:00"}, "start"},
		{Spec{Days: []string{"sat"}, Start: "01:00", End: "25:00"}, "end"},
		{Spec{Days: []string{"sat"}, Start: "01:00", End: "01:00"}, "end"},
		{Spec{Days: []string{"sat"}, Start: "01:00", End: "02:00", TZ: "Mars/Olympus"}, "tz"},
		{Spec{Days: []string{"sat"}, Start: "01:00", End: "02:00", Cadence: "daily"}, "cadence"},
		{Spec{Days: []string{"any"}, Start: "01:00"}, "days"},
	} {
		_, err := Parse(tc.spec)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%+v) = %v, want a field error on %s", tc.spec, err, tc.field)
		}
	}
}

func TestSchedules(t *testing.T) {
	for _, tc := range []struct {
		spec       Spec
		onCalendar string
		cron       string
		exact      bool
	}{
		{Spec{Days: []string{"sat", "sun"}, Start: "02:30", End: "06:00"}, "Sun,Sat *-*-* 02:30:00 UTC", "30 2 * * 0,6", true},
		{Spec{Days: []string{"sat"}, Start: "02:00", End: "06:00", TZ: "Europe/Berlin", Cadence: "monthly"}, "Sat *-*-01..07 02:00:00 Europe/Berlin", "0 2 * * 6", false},
		{Spec{Days: []string{"sun"}, Start: "01:00", End: "05:00", Cadence: "quarterly"}, "Sun *-01,04,07,10-01..07 01:00:00 UTC", "0 1 * 1,4,7,10 0", false},
	} {
		w := mustParse(t, tc.spec)
		if got := w.OnCalendar(); got != tc.onCalendar {
			t.Errorf("OnCalendar = %q, want %q", got, tc.onCalendar)
		}
		if got, exact := w.Cron(); got != tc.cron || exact != tc.exact {
			t.Errorf("Cron = %q %v, want %q %v", got, exact, tc.cron, tc.exact)
		}
	}
}

func TestUpcomingAreInOrderAndInside(t *testing.T) {
	w := mustParse(t, Spec{Days: []string{"sat"}, Start: "22:00", End: "02:00", Cadence: "monthly"})
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	up := w.Upcoming(now, 6)
	if len(up) != 6 {
		t.Fatalf("Upcoming: %d spans", len(up))
	}
	for i, s := range up {
		if !w.Contains(s.Start) || w.Contains(s.End) || s.End.Sub(s.Start) != 4*time.Hour || s.Start.Day() > 7 || s.Start.Weekday() != time.Saturday {
			t.Errorf("span %d: %s .. %s", i, s.Start, s.End)
		}
		if i > 0 && !s.Start.After(up[i-1].End) {
			t.Errorf("span %d does not follow span %d", i, i-1)
		}
	}
}
