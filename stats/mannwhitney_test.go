package stats

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// mwGolden is testdata/scipy_golden.json, written by scipy_golden.py.
type mwGolden struct {
	Generator   string `json:"generator"`
	MannWhitney []struct {
		Name  string    `json:"name"`
		X     []float64 `json:"x"`
		Y     []float64 `json:"y"`
		Level float64   `json:"level"`
		Exact bool      `json:"exact"`
		U, P  float64
		Shift float64 `json:"shift"`
		Low   float64 `json:"low"`
		High  float64 `json:"high"`
	} `json:"mannwhitney"`
	TwoProportions []struct {
		K1, N1, K2, N2 int64
		Method         string  `json:"method"`
		P              float64 `json:"p"`
	} `json:"two_proportions"`
	PoissonRates []struct {
		K1, K2 int64
		T1, T2 float64
		P      float64 `json:"p"`
	} `json:"poisson_rates"`
}

func mwReadGolden(t *testing.T) mwGolden {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "scipy_golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g mwGolden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatalf("decode scipy_golden.json: %v", err)
	}
	if len(g.MannWhitney) == 0 || len(g.TwoProportions) == 0 || len(g.PoissonRates) == 0 {
		t.Fatalf("scipy_golden.json has empty sections: %d/%d/%d cases",
			len(g.MannWhitney), len(g.TwoProportions), len(g.PoissonRates))
	}
	return g
}

// mwClose reports whether got is within rel (relative) of want; values
// whose magnitude is below 1e-300 compare absolutely.
func mwClose(got, want, rel float64) bool {
	if got == want {
		return true
	}
	return math.Abs(got-want) <= rel*math.Max(math.Abs(want), 1e-300)
}

func TestMannWhitneyUScipyGolden(t *testing.T) {
	g := mwReadGolden(t)
	for _, c := range g.MannWhitney {
		t.Run(c.Name, func(t *testing.T) {
			r, err := MannWhitneyU(c.X, c.Y, c.Level)
			if err != nil {
				t.Fatal(err)
			}
			if r.Exact != c.Exact {
				t.Errorf("Exact = %v, scipy ran method exact=%v", r.Exact, c.Exact)
			}
			if !mwClose(r.U, c.U, 1e-9) || !mwClose(r.P, c.P, 1e-9) {
				t.Errorf("U, P = %v, %v; scipy %v, %v", r.U, r.P, c.U, c.P)
			}
			// The shift is a median of differences; numpy averages the two
			// middle ones, which may round differently in the last bit.
			if !mwClose(r.Shift, c.Shift, 1e-12) || r.ShiftLow != c.Low || r.ShiftHigh != c.High {
				t.Errorf("shift %v [%v, %v]; numpy %v [%v, %v]",
					r.Shift, r.ShiftLow, r.ShiftHigh, c.Shift, c.Low, c.High)
			}
			if r.N1 != len(c.X) || r.N2 != len(c.Y) || r.Removed != 0 {
				t.Errorf("N1, N2, Removed = %d, %d, %d", r.N1, r.N2, r.Removed)
			}
		})
	}
}

// The example of scipy.stats.mannwhitneyu's documentation, written out so
// it fails loudly even if the golden file were regenerated wrongly.
func TestMannWhitneyUDocumentedExample(t *testing.T) {
	males := []float64{19, 22, 16, 29, 24}
	females := []float64{20, 11, 17, 12}
	r, err := MannWhitneyU(males, females, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	if r.U != 17 || !r.Exact || math.Abs(r.P-0.1111111) > 1e-7 || r.Z != 0 {
		t.Errorf("got U=%v P=%v Exact=%v Z=%v, want U=17 P=0.1111111 exact Z=0", r.U, r.P, r.Exact, r.Z)
	}
}

func TestMannWhitneyUEdges(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name    string
		x, y    []float64
		level   float64
		wantErr error
		check   func(t *testing.T, r MannWhitney)
	}{
		{name: "one finite value", x: []float64{1, nan}, y: []float64{1, 2, 3}, level: 0.95, wantErr: ErrTooFewSamples},
		{name: "empty", x: nil, y: []float64{1, 2}, level: 0.95, wantErr: ErrTooFewSamples},
		{name: "level 1", x: []float64{1, 2}, y: []float64{3, 4}, level: 1, wantErr: mwErrAny},
		{name: "level NaN", x: []float64{1, 2}, y: []float64{3, 4}, level: nan, wantErr: mwErrAny},
		{
			name: "non-finite removed", x: []float64{nan, 1, 2, inf}, y: []float64{3, -inf, 4}, level: 0.95,
			check: func(t *testing.T, r MannWhitney) {
				if r.Removed != 3 || r.N1 != 2 || r.N2 != 2 || r.U != 0 {
					t.Errorf("Removed, N1, N2, U = %d, %d, %d, %v; want 3, 2, 2, 0", r.Removed, r.N1, r.N2, r.U)
				}
			},
		},
		{
			name: "all values equal", x: []float64{5, 5, 5}, y: []float64{5, 5, 5, 5}, level: 0.95,
			check: func(t *testing.T, r MannWhitney) {
				if r.P != 1 || r.Exact || r.Z != 0 || r.U != 6 || r.Shift != 0 || r.ShiftLow != 0 || r.ShiftHigh != 0 {
					t.Errorf("got %+v; want P=1, U=6, no shift", r)
				}
			},
		},
		{
			name: "y far above x", x: mwSeq(0, 30), y: mwSeq(100, 30), level: 0.95,
			check: func(t *testing.T, r MannWhitney) {
				// Asymptotic (900 pairs): Z negative because x is smaller.
				if r.Exact || r.Z >= -6 || r.P > 1e-9 || r.Shift != 100 || r.ShiftLow > 100 || r.ShiftHigh < 100 {
					t.Errorf("got %+v; want Z < -6, tiny P, shift 100 inside its interval", r)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := MannWhitneyU(tc.x, tc.y, tc.level)
			switch {
			case tc.wantErr == mwErrAny && err == nil:
				t.Fatal("no error")
			case tc.wantErr != nil && tc.wantErr != mwErrAny && !errors.Is(err, tc.wantErr):
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			case tc.wantErr == nil && err != nil:
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

var mwErrAny = errors.New("any error")

func mwSeq(start float64, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = start + float64(i)
	}
	return s
}

// The counts of U must be those of enumerating every way to pick which of
// the n1+n2 ranks belong to x.
func TestMWNullCountsMatchEnumeration(t *testing.T) {
	for _, sz := range [][2]int{{1, 1}, {2, 3}, {3, 2}, {4, 4}, {5, 7}, {6, 6}, {3, 9}} {
		n1, n2 := sz[0], sz[1]
		want := make([]int64, n1*n2+1)
		for mask := 0; mask < 1<<(n1+n2); mask++ {
			if mwPopcount(mask) != n1 {
				continue
			}
			u, ys := 0, 0 // U of x: for each x, the y ranked below it
			for r := range n1 + n2 {
				if mask&(1<<r) != 0 {
					u += ys
				} else {
					ys++
				}
			}
			want[u]++
		}
		if got := mwNullCounts(n1, n2); !slices.Equal(got, want) {
			t.Errorf("%dx%d: counts %v, enumeration %v", n1, n2, got, want)
		}
	}
}

func mwPopcount(m int) int {
	c := 0
	for ; m != 0; m &= m - 1 {
		c++
	}
	return c
}

// The selection in the implicit matrix must agree with sorting every
// difference, ties and all.
func TestMWHodgesLehmannMatchesSortedDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for _, sz := range [][3]int{{2, 2, 0}, {3, 5, 0}, {17, 40, 0}, {60, 45, 1}, {120, 90, 0}, {200, 200, 1}} {
		n1, n2, round := sz[0], sz[1], sz[2] == 1
		x, y := make([]float64, n1), make([]float64, n2)
		for i := range x {
			x[i] = rng.NormFloat64() * 10
		}
		for j := range y {
			y[j] = rng.NormFloat64()*10 + 3
		}
		if round {
			for i := range x {
				x[i] = math.Round(x[i])
			}
			for j := range y {
				y[j] = math.Round(y[j])
			}
		}
		var d []float64
		for _, xv := range x {
			for _, yv := range y {
				d = append(d, yv-xv)
			}
		}
		slices.Sort(d)
		slices.Sort(x)
		slices.Sort(y)
		s := newMWSelector(x, y)
		for _, k := range []int{1, 2, len(d) / 3, len(d) / 2, len(d)/2 + 1, len(d) - 1, len(d)} {
			if k < 1 {
				continue
			}
			if got := s.kth(k); got != d[k-1] {
				t.Errorf("%dx%d rounded=%v: k=%d: %v, sorted %v", n1, n2, round, k, got, d[k-1])
			}
		}
	}
}

// mwDraw returns n normal values with the mean given, from rng.
func mwDraw(rng *rand.Rand, n int, mean float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = rng.NormFloat64() + mean
	}
	return s
}

// The test's false-positive rate must be what it claims, it must detect
// a shift of half a standard deviation, and the shift's 95 % interval
// must cover the true shift about 95 % of the time.
func TestMannWhitneyUErrorRates(t *testing.T) {
	if testing.Short() {
		t.Skip("4000 tests of 200 x 200 samples")
	}
	const pairs, n = 2000, 200
	rng := rand.New(rand.NewPCG(2024, 6))
	var falsePos, detected, covered int
	for range pairs {
		r, err := MannWhitneyU(mwDraw(rng, n, 0), mwDraw(rng, n, 0), 0.95)
		if err != nil {
			t.Fatal(err)
		}
		if r.P < 0.05 {
			falsePos++
		}
		r, err = MannWhitneyU(mwDraw(rng, n, 0), mwDraw(rng, n, 0.5), 0.95)
		if err != nil {
			t.Fatal(err)
		}
		if r.P < 0.05 {
			detected++
		}
		if r.ShiftLow <= 0.5 && 0.5 <= r.ShiftHigh {
			covered++
		}
	}
	fp, power, cover := float64(falsePos)/pairs, float64(detected)/pairs, float64(covered)/pairs
	t.Logf("same distribution: %.4f with P < 0.05; shift 0.5 SD: %.4f detected, interval covers %.4f", fp, power, cover)
	if fp < 0.02 || fp > 0.08 {
		t.Errorf("false-positive rate %.4f, want 0.02..0.08", fp)
	}
	if power <= 0.95 {
		t.Errorf("detected a 0.5 SD shift in %.4f, want > 0.95", power)
	}
	if cover < 0.93 || cover > 0.97 {
		t.Errorf("95%% interval covered the shift in %.4f, want 0.93..0.97", cover)
	}
}

// mwScipyPython returns a python3 that imports scipy and numpy, or skips:
// python3 on PATH first, then Debian's /usr/bin/python3 (python3-scipy),
// since a PATH python (pyenv, venv) often lacks scipy.
func mwScipyPython(t *testing.T) string {
	t.Helper()
	var tried []string
	if p, err := exec.LookPath("python3"); err == nil {
		tried = append(tried, p)
	}
	tried = append(tried, "/usr/bin/python3")
	for _, py := range tried {
		if exec.CommandContext(t.Context(), py, "-c", "import scipy, numpy").Run() == nil {
			return py
		}
	}
	t.Skipf("live cross-check with scipy skipped: no python3 with scipy and numpy (tried %v); "+
		"install python3-scipy to run it", tried)
	return ""
}

// mwRunScipy runs script with python3 -c, in as JSON on stdin, and decodes
// its stdout into out.
func mwRunScipy(t *testing.T, script string, in, out any) {
	t.Helper()
	py := mwScipyPython(t)
	req, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), py, "-c", script)
	cmd.Stdin = bytes.NewReader(req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	resp, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", py, err, stderr.String())
	}
	if err := json.Unmarshal(resp, out); err != nil {
		t.Fatalf("decode scipy's answer: %v\n%s", err, resp)
	}
}

// mwLiveScript decides exact or asymptotic by its own reading of the rule
// (no ties, n1*n2 <= 400) and computes the Hodges-Lehmann interval from
// every difference, sorted.
const mwLiveScript = `
import json, math, sys
import numpy as np
from scipy import stats
out = []
for c in json.load(sys.stdin):
    x, y = c["x"], c["y"]
    exact = len(set(x + y)) == len(x) + len(y) and len(x) * len(y) <= 400
    r = stats.mannwhitneyu(x, y, alternative="two-sided",
                           method="exact" if exact else "asymptotic", use_continuity=True)
    d = np.sort(np.subtract.outer(np.asarray(y), np.asarray(x)).ravel())
    n = d.size
    z = stats.norm.ppf((1 + c["level"]) / 2)
    k = min(max(math.floor(n / 2 - z * math.sqrt(n * (len(x) + len(y) + 1) / 12)), 1), n)
    out.append({"exact": exact, "u": float(r.statistic), "p": float(r.pvalue),
                "shift": float(np.median(d)), "low": float(d[k - 1]), "high": float(d[n - k])})
json.dump(out, sys.stdout)
`

// Random samples drawn here, judged by scipy there: small and large,
// with and without ties, shifted or not.
func TestMannWhitneyULiveScipy(t *testing.T) {
	type req struct {
		X     []float64 `json:"x"`
		Y     []float64 `json:"y"`
		Level float64   `json:"level"`
	}
	rng := rand.New(rand.NewPCG(20260101, 3))
	var cases []req
	for i := range 80 {
		n1, n2 := 2+rng.IntN(25), 2+rng.IntN(25)
		if i%4 == 3 {
			n1, n2 = 50+rng.IntN(400), 50+rng.IntN(400)
		}
		shift := []float64{0, 0.3, 1, -2}[i%4]
		x, y := mwDraw(rng, n1, 0), mwDraw(rng, n2, shift)
		if i%2 == 1 { // whole units of a tenth of a SD: ties
			for k := range x {
				x[k] = math.Round(x[k] * 10)
			}
			for k := range y {
				y[k] = math.Round(y[k] * 10)
			}
		}
		cases = append(cases, req{X: x, Y: y, Level: []float64{0.9, 0.95, 0.99}[i%3]})
	}
	var want []struct {
		Exact                  bool
		U, P, Shift, Low, High float64
	}
	mwRunScipy(t, mwLiveScript, cases, &want)
	if len(want) != len(cases) {
		t.Fatalf("scipy answered %d of %d cases", len(want), len(cases))
	}
	var exact int
	for i, c := range cases {
		r, err := MannWhitneyU(c.X, c.Y, c.Level)
		if err != nil {
			t.Fatal(err)
		}
		w := want[i]
		if w.Exact {
			exact++
		}
		if r.Exact != w.Exact || !mwClose(r.U, w.U, 1e-9) || !mwClose(r.P, w.P, 1e-9) ||
			!mwClose(r.Shift, w.Shift, 1e-12) || r.ShiftLow != w.Low || r.ShiftHigh != w.High {
			t.Errorf("case %d (%dx%d): got exact=%v U=%v P=%v shift %v [%v, %v]; scipy/numpy %+v",
				i, len(c.X), len(c.Y), r.Exact, r.U, r.P, r.Shift, r.ShiftLow, r.ShiftHigh, w)
		}
	}
	t.Logf("%d cases agree with scipy (%d exact, %d asymptotic)", len(cases), exact, len(cases)-exact)
}
