package stats

import (
	"errors"
	"math"
	"testing"
)

// TestMannKendallMatchesScipy: S is the brute-force count, tau-b is
// scipy.stats.kendalltau's, and √VarS is the one behind scipy's
// asymptotic p-value (which has no continuity correction).
func TestMannKendallMatchesScipy(t *testing.T) {
	g := tsLoadGolden(t)
	for _, c := range g.Cases {
		t.Run(c.Name, func(t *testing.T) {
			k, err := MannKendall(c.X, c.Y)
			if err != nil {
				t.Fatal(err)
			}
			want := c.Kendall
			if k.S != want.S {
				t.Errorf("S = %v, want %v", k.S, want.S)
			}
			if !tsClose(k.Tau, want.TauB, 1e-12) {
				t.Errorf("tau = %.15g, scipy %.15g", k.Tau, want.TauB)
			}
			p := math.Erfc(math.Abs(k.S) / math.Sqrt(k.VarS) / math.Sqrt2)
			if math.Abs(p-want.PAsymptotic) > 1e-9*math.Max(want.PAsymptotic, 1e-12) && math.Abs(p-want.PAsymptotic) > 1e-15 {
				t.Errorf("uncorrected p = %.15g, scipy %.15g (VarS %v)", p, want.PAsymptotic, k.VarS)
			}
			if k.P < want.PAsymptotic && k.S != 0 {
				t.Errorf("continuity-corrected p %v below the uncorrected %v", k.P, want.PAsymptotic)
			}
		})
	}
}

// TestMannKendallByHand is the worked example of
// mathcs.holycross.edu/~little/Montserrat/MannKendallByHand.txt: 14
// values with one tie, S = 54, V = (14·13·33 - 2·1·9)/18, Z = 2.9058,
// one-sided p ≈ 0.0018.
func TestMannKendallByHand(t *testing.T) {
	y := []float64{12.9, 14.8, 13.2, 15.7, 13.8, 15.6, 12.9, 11.0, 17.3, 15.9, 19.0, 18.3, 20.1, 21.7}
	x := make([]float64, len(y))
	for i := range x {
		x[i] = float64(i)
	}
	k, err := MannKendall(x, y)
	if err != nil {
		t.Fatal(err)
	}
	if k.S != 54 || k.VarS != (14*13*33-2*1*9)/18.0 || math.Abs(k.Z-2.9058) > 5e-5 || math.Abs(k.P/2-0.0018) > 5e-5 {
		t.Errorf("got %+v, want S 54, VarS %v, Z 2.9058, one-sided p 0.0018", k, (14*13*33-2*1*9)/18.0)
	}
	// Reversed in time, the same series falls with the same strength.
	for i := range x {
		x[i] = -x[i]
	}
	if r, _ := MannKendall(x, y); r.S != -54 || r.Z != -k.Z || r.P != k.P {
		t.Errorf("reversed: %+v", r)
	}
}

func TestMannKendallEdges(t *testing.T) {
	for _, c := range []struct {
		name    string
		x, y    []float64
		wantErr error
		wantZ   float64
		wantP   float64
	}{
		{"two points", []float64{0, 1}, []float64{1, 2}, ErrTooFewSamples, 0, 0},
		{"constant y", []float64{0, 1, 2, 3}, []float64{5, 5, 5, 5}, nil, 0, 1},
		{"S zero", []float64{0, 1, 2}, []float64{1, 3, 2}, nil, 0, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			k, err := MannKendall(c.x, c.y)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if err == nil && (k.Z != c.wantZ || k.P != c.wantP || math.IsNaN(k.Tau)) {
				t.Errorf("got %+v, want Z %v P %v", k, c.wantZ, c.wantP)
			}
		})
	}
}
