package stats

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func bsLognormal(rng *rand.Rand, n int, median float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = median * math.Exp(0.3*rng.NormFloat64())
	}
	return out
}

// TestBootstrapQuantileDiffErrorRates: on samples of one distribution
// the test's false-positive rate at 0.05 is near 5 %, and the interval
// holds the true difference (0) about as often as its level says; a
// tail moved by 200 ms on a tenth of the requests is found at p95 while
// the median barely moves.
func TestBootstrapQuantileDiffErrorRates(t *testing.T) {
	if testing.Short() {
		t.Skip("300 bootstrap tests")
	}
	rng := rand.New(rand.NewPCG(7, 7))
	const pairs = 300
	alarms, covered := 0, 0
	for i := range pairs {
		x, y := bsLognormal(rng, 500, 0.1), bsLognormal(rng, 500, 0.1)
		r, err := BootstrapQuantileDiff(x, y, 0.95, 0.95, 500, uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		if r.P < 0.05 {
			alarms++
		}
		if r.Low <= 0 && 0 <= r.High {
			covered++
		}
	}
	t.Logf("same distribution: %d of %d pairs p < 0.05; interval held 0 in %d", alarms, pairs, covered)
	if rate := float64(alarms) / pairs; rate > 0.09 {
		t.Errorf("false positives %.1f%% at 0.05, want about 5%%", rate*100)
	}
	if cov := float64(covered) / pairs; cov < 0.90 {
		t.Errorf("95%% interval held the truth in %.1f%%", cov*100)
	}
	detected := 0
	for i := range 50 {
		x, y := bsLognormal(rng, 1000, 0.1), bsLognormal(rng, 1000, 0.1)
		for j := 0; j < len(y); j += 10 {
			y[j] += 0.2
		}
		r, err := BootstrapQuantileDiff(x, y, 0.95, 0.95, 500, uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		if r.P < 0.05 && r.Estimate > 0.1 {
			detected++
		}
	}
	t.Logf("tail of 200 ms on 10%%: found in %d of 50", detected)
	if detected < 48 {
		t.Errorf("a 200 ms tail on 10%% of requests found in %d of 50", detected)
	}
}

// TestBootstrapQuantileDiffExact: the estimate is the plain difference of
// the two samples' quantiles; identical samples have p = 1; a resample's
// quantile by counting equals the sorted resample's.
func TestBootstrapQuantileDiffExact(t *testing.T) {
	x := []float64{5, 1, 4, 2, 3, math.NaN()}
	y := []float64{15, 11, 14, 12, 13}
	r, err := BootstrapQuantileDiff(x, y, 0.5, 0.9, 200, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Estimate != 10 || r.N1 != 5 || r.P > 0.02 {
		t.Errorf("%+v, want estimate 10 over 5 finite values, p small", r)
	}
	same, err := BootstrapQuantileDiff(x[:5], x[:5], 0.95, 0.9, 200, 1)
	if err != nil || same.P < 0.5 {
		t.Errorf("identical samples: %+v %v", same, err)
	}
	if _, err := BootstrapQuantileDiff([]float64{1}, y, 0.5, 0.9, 200, 1); err == nil {
		t.Error("one value: want ErrTooFewSamples")
	}
	sorted := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for seed := range uint64(50) {
		a, b := rand.New(rand.NewPCG(seed, 0)), rand.New(rand.NewPCG(seed, 0))
		got := bsQuantile(sorted, make([]int, 10), 0.95, a)
		draw := make([]float64, 10)
		for i := range draw {
			draw[i] = sorted[b.IntN(10)]
		}
		slices.Sort(draw)
		if want := Quantile(draw, 0.95); got != want {
			t.Fatalf("seed %d: counted quantile %v, sorted resample's %v", seed, got, want)
		}
	}
}

func BenchmarkBootstrapQuantileDiff1000(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	x, y := bsLognormal(rng, 1000, 0.1), bsLognormal(rng, 1000, 0.1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := BootstrapQuantileDiff(x, y, 0.95, 0.95, 2000, 1); err != nil {
			b.Fatal(err)
		}
	}
}
