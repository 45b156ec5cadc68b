package stats

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// tsGolden is testdata/theilsen_golden.json, written by
// testdata/theilsen_golden.py from scipy.stats.theilslopes and kendalltau.
type tsGolden struct {
	Generator string `json:"generator"`
	Cases     []struct {
		Name string    `json:"name"`
		X    []float64 `json:"x"`
		Y    []float64 `json:"y"`
		Fits []struct {
			Level     float64 `json:"level"`
			Slope     float64 `json:"slope"`
			Intercept float64 `json:"intercept"`
			LowSlope  float64 `json:"low_slope"`
			HighSlope float64 `json:"high_slope"`
		} `json:"fits"`
		Kendall struct {
			TauB        float64 `json:"tau_b"`
			PAsymptotic float64 `json:"p_asymptotic"`
			S           float64 `json:"s"`
		} `json:"kendall"`
	} `json:"cases"`
}

func tsLoadGolden(t *testing.T) tsGolden {
	t.Helper()
	b, err := os.ReadFile("testdata/theilsen_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g tsGolden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) == 0 {
		t.Fatal("no golden cases")
	}
	return g
}

func tsClose(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

// TestTheilSenMatchesScipy: slope, intercept and Sen's interval at 90 %
// and 95 % equal scipy.stats.theilslopes' on data with ties in x and y,
// an outlier, and n from 5 to 30.
func TestTheilSenMatchesScipy(t *testing.T) {
	g := tsLoadGolden(t)
	for _, c := range g.Cases {
		for _, f := range c.Fits {
			t.Run(c.Name, func(t *testing.T) {
				l, err := TheilSen(c.X, c.Y, f.Level)
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range []struct {
					what      string
					got, want float64
				}{
					{"slope", l.Slope, f.Slope}, {"intercept", l.Intercept, f.Intercept},
					{"low slope", l.SlopeLow, f.LowSlope}, {"high slope", l.SlopeHigh, f.HighSlope},
					{"line at CenterX", l.At(l.CenterX), l.CenterY},
				} {
					if !tsClose(v.got, v.want, 1e-9) {
						t.Errorf("level %v: %s = %.12g, scipy (%s) %.12g", f.Level, v.what, v.got, g.Generator, v.want)
					}
				}
				if l.N != len(c.X) || l.SlopeLow > l.Slope || l.Slope > l.SlopeHigh {
					t.Errorf("line %+v", l)
				}
			})
		}
	}
}

// TestTheilSenIgnoresAnOutlier: one wild point moves least squares but
// not the robust line, whose R² then falls below the line's share of the
// other points' variance.
func TestTheilSenIgnoresAnOutlier(t *testing.T) {
	x := []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	y := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 100}
	l, err := TheilSen(x, y, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	if l.Slope != 1 || l.Intercept != 1 {
		t.Errorf("slope %v intercept %v, want 1 and 1", l.Slope, l.Intercept)
	}
	// SSres = 90² = 8100; SStot of y: computed by hand (mean 14.5).
	var tot float64
	for _, v := range y {
		tot += (v - 14.5) * (v - 14.5)
	}
	if want := 1 - 8100/tot; !tsClose(l.R2, want, 1e-12) {
		t.Errorf("R2 = %v, want %v", l.R2, want)
	}
}

func TestTheilSenRefuses(t *testing.T) {
	for _, c := range []struct {
		name  string
		x, y  []float64
		level float64
		want  error
	}{
		{"one point", []float64{1}, []float64{2}, 0.9, ErrTooFewSamples},
		{"all at one x", []float64{3, 3, 3}, []float64{1, 2, 3}, 0.9, ErrTooFewSamples},
		{"NaN leaves one", []float64{1, math.NaN()}, []float64{2, 3}, 0.9, ErrTooFewSamples},
		{"level 1", []float64{1, 2}, []float64{2, 3}, 1, ErrBadLevel},
		{"level 0", []float64{1, 2}, []float64{2, 3}, 0, ErrBadLevel},
		{"level NaN", []float64{1, 2}, []float64{2, 3}, math.NaN(), ErrBadLevel},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := TheilSen(c.x, c.y, c.level); !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
		})
	}
	if _, err := TheilSen([]float64{1, 2}, []float64{1}, 0.9); err == nil {
		t.Error("unequal lengths accepted")
	}
}

func TestTheilSenR2(t *testing.T) {
	for _, c := range []struct {
		name string
		y    []float64
		want float64
	}{
		{"exact line", []float64{1, 3, 5, 7}, 1},
		{"constant", []float64{2, 2, 2, 2}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, err := TheilSen([]float64{0, 1, 2, 3}, c.y, 0.9)
			if err != nil || l.R2 != c.want {
				t.Errorf("R2 = %v (%v), want %v", l.R2, err, c.want)
			}
		})
	}
}

// TestTheilSenLiveScipy cross-checks random data against a live scipy,
// when one is installed.
func TestTheilSenLiveScipy(t *testing.T) {
	py := tsPython(t)
	x := []float64{0, 0.5, 3, 3, 4.25, 7, 8, 13, 14, 20, 21.5}
	y := []float64{5, 5.2, 5.1, 6.3, 5.9, 6.6, 7.5, 7.1, 9.2, 9.0, 12}
	script := "from scipy import stats; import json,sys; d=json.load(sys.stdin); r=stats.theilslopes(d[1], d[0], alpha=0.8); print(json.dumps([float(v) for v in r]))"
	cmd := exec.Command(py, "-c", script)
	in, _ := json.Marshal([][]float64{x, y})
	cmd.Stdin = strings.NewReader(string(in))
	outb, err := cmd.Output()
	if err != nil {
		t.Fatalf("scipy: %v", err)
	}
	var want []float64
	if err := json.Unmarshal(outb, &want); err != nil {
		t.Fatal(err)
	}
	l, err := TheilSen(x, y, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	got := []float64{l.Slope, l.Intercept, l.SlopeLow, l.SlopeHigh}
	for i := range got {
		if !tsClose(got[i], want[i], 1e-9) {
			t.Errorf("got %v, scipy %v", got, want)
			break
		}
	}
}

// tsPython finds a python3 with scipy, or skips.
func tsPython(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if err := exec.Command(p, "-c", "import scipy.stats").Run(); err == nil {
			return p
		}
	}
	t.Skip("no python3 with scipy")
	return ""
}
