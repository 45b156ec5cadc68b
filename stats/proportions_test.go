package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func TestTwoProportionsScipyGolden(t *testing.T) {
	g := mwReadGolden(t)
	for _, c := range g.TwoProportions {
		t.Run(fmt.Sprintf("%d of %d vs %d of %d (%s)", c.K1, c.N1, c.K2, c.N2, c.Method), func(t *testing.T) {
			p, err := TwoProportions(c.K1, c.N1, c.K2, c.N2)
			if err != nil {
				t.Fatal(err)
			}
			if !mwClose(p, c.P, 1e-9) {
				t.Errorf("p = %v, scipy %v", p, c.P)
			}
			// The test chosen must be the one scipy was asked for: on the
			// same table the other one gives a different p.
			other := propFisher(c.K1, c.N1, c.K2, c.N2)
			if c.Method == "z" && mwClose(other, p, 1e-9) {
				t.Errorf("p %v equals Fisher's: the z-test was not used", p)
			}
		})
	}
}

func TestPoissonRatesScipyGolden(t *testing.T) {
	g := mwReadGolden(t)
	for _, c := range g.PoissonRates {
		t.Run(fmt.Sprintf("%d over %v vs %d over %v", c.K1, c.T1, c.K2, c.T2), func(t *testing.T) {
			p, err := PoissonRates(c.K1, c.T1, c.K2, c.T2)
			if err != nil {
				t.Fatal(err)
			}
			if !mwClose(p, c.P, 1e-9) {
				t.Errorf("p = %v, scipy binomtest %v", p, c.P)
			}
		})
	}
}

func TestTwoProportionsEdges(t *testing.T) {
	tests := []struct {
		name           string
		k1, n1, k2, n2 int64
		wantP          float64 // checked when wantErr is false; NaN: only 0 < p < 1e-6
		wantErr        bool
	}{
		{name: "both zero", k1: 0, n1: 100, k2: 0, n2: 3, wantP: 1},
		{name: "both all", k1: 50, n1: 50, k2: 70, n2: 70, wantP: 1},
		{name: "same proportion large", k1: 500, n1: 1000, k2: 1000, n2: 2000, wantP: 1},
		// 0 of 9 against 9 of 9 (expected 4.5): Fisher's p is the two
		// extreme tables, 2/C(18,9).
		{name: "fisher extreme", k1: 0, n1: 9, k2: 9, n2: 9, wantP: 2 / 48620.0},
		{name: "millions", k1: 1000, n1: 1_000_000, k2: 2000, n2: 1_000_000, wantP: math.NaN()},
		{name: "n zero", k1: 0, n1: 0, k2: 1, n2: 2, wantErr: true},
		{name: "k above n", k1: 3, n1: 2, k2: 1, n2: 2, wantErr: true},
		{name: "k negative", k1: 1, n1: 2, k2: -1, n2: 2, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := TwoProportions(tc.k1, tc.n1, tc.k2, tc.n2)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("p = %v, want an error", p)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case math.IsNaN(tc.wantP):
				if !(p > 0 && p < 1e-6) {
					t.Errorf("p = %v, want tiny but positive", p)
				}
			case !mwClose(p, tc.wantP, 1e-9):
				t.Errorf("p = %v, want %v", p, tc.wantP)
			}
		})
	}
}

func TestPoissonRatesEdges(t *testing.T) {
	tests := []struct {
		name    string
		k1      int64
		t1      float64
		k2      int64
		t2      float64
		wantP   float64
		wantErr bool
	}{
		{name: "no events", k1: 0, t1: 10, k2: 0, t2: 99, wantP: 1},
		// 0 vs 10 over equal exposure: 2 * 0.5^10 (both tails).
		{name: "ten against none", k1: 0, t1: 5, k2: 10, t2: 5, wantP: 2 * math.Pow(0.5, 10)},
		// Rates equal: 10/100 and 20/200, k1 at the binomial's mode.
		{name: "equal rates", k1: 10, t1: 100, k2: 20, t2: 200, wantP: 1},
		// Far beyond the smallest float64: the walk underflows, p is 0.
		{name: "underflow", k1: 0, t1: 1, k2: 5000, t2: 1, wantP: 0},
		{name: "zero exposure", k1: 1, t1: 0, k2: 1, t2: 1, wantErr: true},
		{name: "negative exposure", k1: 1, t1: 1, k2: 1, t2: -2, wantErr: true},
		{name: "NaN exposure", k1: 1, t1: math.NaN(), k2: 1, t2: 1, wantErr: true},
		{name: "infinite exposure", k1: 1, t1: math.Inf(1), k2: 1, t2: 1, wantErr: true},
		{name: "negative count", k1: -1, t1: 1, k2: 1, t2: 1, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := PoissonRates(tc.k1, tc.t1, tc.k2, tc.t2)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("p = %v, want an error", p)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !mwClose(p, tc.wantP, 1e-12) {
				t.Errorf("p = %v, want %v", p, tc.wantP)
			}
		})
	}
}

// propLiveScript picks Fisher or the chi-square (= pooled z) test by its own
// reading of the rule (an expected cell below 5) and runs binomtest for
// the Poisson rates.
const propLiveScript = `
import json, sys
import numpy as np
from scipy import stats
req = json.load(sys.stdin)
props = []
for k1, n1, k2, n2 in req["props"]:
    table = [[k1, n1 - k1], [k2, n2 - k2]]
    expected = np.outer([n1, n2], [k1 + k2, n1 + n2 - k1 - k2]) / (n1 + n2)
    if expected.min() < 5:
        props.append(float(stats.fisher_exact(table).pvalue))
    else:
        props.append(float(stats.chi2_contingency(table, correction=False).pvalue))
rates = []
for k1, t1, k2, t2 in req["rates"]:
    rates.append(1.0 if k1 + k2 == 0 else float(stats.binomtest(int(k1), int(k1 + k2), t1 / (t1 + t2)).pvalue))
json.dump({"props": props, "rates": rates}, sys.stdout)
`

// Random tables and counts drawn here, tested by scipy there.
func TestProportionsLiveScipy(t *testing.T) {
	rng := rand.New(rand.NewPCG(77, 2026))
	var req struct {
		Props [][4]int64   `json:"props"`
		Rates [][4]float64 `json:"rates"`
	}
	for i := range 120 {
		n1, n2 := 1+rng.Int64N(40), 1+rng.Int64N(40)
		if i%3 == 0 {
			n1, n2 = 100+rng.Int64N(20000), 100+rng.Int64N(20000)
		}
		rate := []float64{0.001, 0.02, 0.3, 0.5, 0.97}[i%5]
		k1 := min(n1, int64(float64(n1)*rate*(0.5+rng.Float64())))
		k2 := min(n2, int64(float64(n2)*rate*(0.5+rng.Float64())))
		req.Props = append(req.Props, [4]int64{k1, n1, k2, n2})
		t1, t2 := 1+rng.Float64()*3600, 1+rng.Float64()*3600
		c1, c2 := rng.Int64N(3+int64(i*i)), rng.Int64N(3+int64(i*i))
		req.Rates = append(req.Rates, [4]float64{float64(c1), t1, float64(c2), t2})
	}
	var want struct {
		Props []float64 `json:"props"`
		Rates []float64 `json:"rates"`
	}
	mwRunScipy(t, propLiveScript, req, &want)
	if len(want.Props) != len(req.Props) || len(want.Rates) != len(req.Rates) {
		t.Fatalf("scipy answered %d and %d of %d cases", len(want.Props), len(want.Rates), len(req.Props))
	}
	fisher := 0
	for i, c := range req.Props {
		pool := float64(c[0]+c[2]) / float64(c[1]+c[3])
		if float64(min(c[1], c[3]))*min(pool, 1-pool) < propFisherMinExpected {
			fisher++
		}
		p, err := TwoProportions(c[0], c[1], c[2], c[3])
		if err != nil {
			t.Fatal(err)
		}
		if !mwClose(p, want.Props[i], 1e-9) {
			t.Errorf("TwoProportions%v = %v, scipy %v", c, p, want.Props[i])
		}
	}
	for i, c := range req.Rates {
		p, err := PoissonRates(int64(c[0]), c[1], int64(c[2]), c[3])
		if err != nil {
			t.Fatal(err)
		}
		if !mwClose(p, want.Rates[i], 1e-9) {
			t.Errorf("PoissonRates%v = %v, scipy binomtest %v", c, p, want.Rates[i])
		}
	}
	t.Logf("%d two-proportion (%d by Fisher) and %d Poisson cases agree with scipy",
		len(req.Props), fisher, len(req.Rates))
}
