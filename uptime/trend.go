package uptime

import (
	"errors"
	"math"
	"time"
)

// Point is one value of a series over time (e.g. a past report's p95).
type Point struct {
	At    time.Time `json:"at"`
	Value float64   `json:"value"`
}

// Trend is a least-squares line through a series: Value(t) = Intercept +
// Slope × seconds since Origin.
type Trend struct {
	Origin    time.Time `json:"origin"`
	Slope     float64   `json:"slope_per_second"`
	Intercept float64   `json:"intercept"`
	// R2 is the coefficient of determination (1 when all points fit; 0 when
	// the values do not vary).
	R2 float64 `json:"r2"`
	N  int     `json:"n"`
}

// ErrTooFewPoints is returned by Fit with fewer than two distinct times.
var ErrTooFewPoints = errors.New("trend needs at least two points at different times")

// Fit returns the least-squares line through points.
func Fit(points []Point) (Trend, error) {
	if len(points) < 2 {
		return Trend{}, ErrTooFewPoints
	}
	origin := points[0].At
	for _, p := range points {
		if p.At.Before(origin) {
			origin = p.At
		}
	}
	n := float64(len(points))
	var sx, sy float64
	for _, p := range points {
		sx += p.At.Sub(origin).Seconds()
		sy += p.Value
	}
	mx, my := sx/n, sy/n
	var sxx, sxy, syy float64
	for _, p := range points {
		dx, dy := p.At.Sub(origin).Seconds()-mx, p.Value-my
		sxx += dx * dx
		sxy += dx * dy
		syy += dy * dy
	}
	if sxx == 0 {
		return Trend{}, ErrTooFewPoints
	}
	t := Trend{Origin: origin, N: len(points)}
	t.Slope = sxy / sxx
	t.Intercept = my - t.Slope*mx
	if syy > 0 {
		t.R2 = (sxy * sxy) / (sxx * syy)
	}
	return t, nil
}

// At returns the line's value at t.
func (t Trend) At(at time.Time) float64 {
	return t.Intercept + t.Slope*at.Sub(t.Origin).Seconds()
}

// SlopePerDay returns the slope in value units per 24 hours.
func (t Trend) SlopePerDay() float64 { return t.Slope * 86400 }

// TimeToThreshold returns when the line crosses threshold and whether that
// lies at or after now (false for a crossing in the past, and with a zero
// time for a flat line that never crosses).
func (t Trend) TimeToThreshold(now time.Time, threshold float64) (at time.Time, ok bool) {
	if t.Slope == 0 || math.IsNaN(t.Slope) {
		return time.Time{}, false
	}
	secs := (threshold - t.Intercept) / t.Slope
	cross := t.Origin.Add(time.Duration(secs * float64(time.Second)))
	if cross.Before(now) {
		return cross, false
	}
	return cross, true
}
