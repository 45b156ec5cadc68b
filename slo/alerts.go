package slo

import (
	"time"

	"github.com/aiuptime/aiuptime/uptime"
)

// GooglePeriod is the SLO period of the Google SRE workbook's alert table.
const GooglePeriod = 30 * 24 * time.Hour

// AlertWindow is one multiwindow burn-rate alert: it fires when the burn
// rate over both the Long and the Short window reaches Factor.
type AlertWindow struct {
	Name     string        `json:"name"`     // e.g. page-quick
	Severity string        `json:"severity"` // page or ticket
	Long     time.Duration `json:"long"`
	Short    time.Duration `json:"short"`
	// BudgetPercent is the share of the period's error budget the long
	// window burns at Factor.
	BudgetPercent float64 `json:"budget_percent"`
	// Factor is the burn-rate threshold: BudgetPercent/100 × period / Long.
	Factor float64 `json:"factor"`
}

// GoogleWindows returns the workbook's (and Sloth's google-30d) windows for
// a 30-day SLO, divided by scale (1 for real time):
// page 1h/5m at 14.4 (2 %), page 6h/30m at 6 (5 %), ticket 1d/2h at 3
// (10 %), ticket 3d/6h at 1 (10 %).
func GoogleWindows(scale float64) []AlertWindow {
	ws := []AlertWindow{
		{Name: "page-quick", Severity: "page", Long: time.Hour, Short: 5 * time.Minute, BudgetPercent: 2},
		{Name: "page-slow", Severity: "page", Long: 6 * time.Hour, Short: 30 * time.Minute, BudgetPercent: 5},
		{Name: "ticket-quick", Severity: "ticket", Long: 24 * time.Hour, Short: 2 * time.Hour, BudgetPercent: 10},
		{Name: "ticket-slow", Severity: "ticket", Long: 72 * time.Hour, Short: 6 * time.Hour, BudgetPercent: 10},
	}
	for i := range ws {
		ws[i].Factor = ws[i].BudgetPercent / 100 * float64(GooglePeriod) / float64(ws[i].Long)
	}
	return scaleWindows(ws, scale)
}

func scaleWindows(ws []AlertWindow, scale float64) []AlertWindow {
	out := make([]AlertWindow, len(ws))
	for i, w := range ws {
		w.Long = time.Duration(float64(w.Long) / scale)
		w.Short = time.Duration(float64(w.Short) / scale)
		out[i] = w
	}
	return out
}

// BurnRate is the bad fraction over the allowed bad fraction (1 -
// objective), capped at MaxBurnRate.
func BurnRate(badFraction, allowedFraction float64) float64 {
	return burn(badFraction, allowedFraction)
}

// Fires reports whether a multiwindow alert fires for the error ratios of
// its long and short windows and the allowed bad fraction.
func (w AlertWindow) Fires(longRatio, shortRatio, allowed float64) bool {
	return w.reached(burn(longRatio, allowed)) && w.reached(burn(shortRatio, allowed))
}

// reached compares a burn rate with the factor, forgiving float rounding
// (0.0144 / 0.001 is 14.399999999999999).
func (w AlertWindow) reached(b float64) bool { return b >= w.Factor*(1-1e-9) }

// AlertResult is a window's evaluation over a run.
type AlertResult struct {
	Window AlertWindow `json:"window"`
	Fired  bool        `json:"fired"`
	// FiredAt is the first time both windows burned at Factor or more;
	// ResolvedAt the first time after that when they no longer did.
	FiredAt    time.Time `json:"fired_at,omitzero"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	// MaxLongBurn and MaxShortBurn are the highest burn rates seen.
	MaxLongBurn  float64 `json:"max_long_burn"`
	MaxShortBurn float64 `json:"max_short_burn"`
}

// maxAlertSteps bounds the evaluation points per window.
const maxAlertSteps = 200000

// alerts slides every window over the run, as a rule evaluated at a fixed
// interval would (a quarter of the short window, at least 10 ms).
func alerts(a *uptime.Analysis, allowed float64, windows []AlertWindow) []AlertResult {
	if a.Span <= 0 {
		return nil
	}
	out := make([]AlertResult, 0, len(windows))
	ratio := func(from, to time.Time) float64 {
		total, good := a.Counts(from, to)
		if total == 0 {
			return 0
		}
		return float64(total-good) / float64(total)
	}
	for _, w := range windows {
		res := AlertResult{Window: w}
		step := max(w.Short/4, 10*time.Millisecond, a.Span/maxAlertSteps)
		firing := false
		for t := a.Start.Add(step); !t.After(a.End.Add(step)); t = t.Add(step) {
			lb := burn(ratio(t.Add(-w.Long), t), allowed)
			sb := burn(ratio(t.Add(-w.Short), t), allowed)
			res.MaxLongBurn = max(res.MaxLongBurn, lb)
			res.MaxShortBurn = max(res.MaxShortBurn, sb)
			now := w.reached(lb) && w.reached(sb)
			switch {
			case now && !res.Fired:
				res.Fired, res.FiredAt, firing = true, t, true
			case !now && firing && res.ResolvedAt.IsZero():
				res.ResolvedAt, firing = t, false
			}
		}
		out = append(out, res)
	}
	return out
}
