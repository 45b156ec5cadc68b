package stats

import (
	"fmt"
	"math"
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
