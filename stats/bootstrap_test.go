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

// bsBursty is one run of a fault drill: n requests over 60 s in 5 s
// blocks, with a random number of bursts (a failover) that slow 8
// consecutive requests to 0.5-0.9 s.
func bsBursty(rng *rand.Rand, n int, extra float64) (vals []float64, blocks []int) {
	vals = bsLognormal(rng, n, 0.1)
	for range rng.IntN(4) {
		at := rng.IntN(n - 8)
		for i := at; i < at+8; i++ {
			vals[i] = 0.5 + 0.4*rng.Float64()
		}
	}
	blocks = make([]int, n)
	for i := range vals {
		blocks[i] = i * 12 / n
		if i%2 == 0 {
			vals[i] += extra
		}
	}
	return vals, blocks
}

// TestBlockBootstrapKeepsBurstsTogether: runs whose p99 is made by a
// random number of failover bursts differ by chance; resampled value by
// value they look significantly different far more often than 5 % (37 %
// measured), in blocks near it (9 %: twelve blocks are few, and a block
// bootstrap's interval is known to run a little narrow). A slower replica
// (every other request +200 ms) is still found at p95 in at least 45 of
// 50 (47 measured: where three bursts fall in one block, a resample that
// draws it three times has its p95 among them, and says so).
func TestBlockBootstrapKeepsBurstsTogether(t *testing.T) {
	if testing.Short() {
		t.Skip("400 bootstrap tests")
	}
	rng := rand.New(rand.NewPCG(11, 11))
	const pairs = 200
	plain, blocked := 0, 0
	for i := range pairs {
		x, xb := bsBursty(rng, 1000, 0)
		y, yb := bsBursty(rng, 1000, 0)
		p, err := BootstrapQuantileDiff(x, y, 0.99, 0.95, 400, uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		b, err := BlockBootstrapQuantileDiff(x, xb, y, yb, 0.99, 0.95, 400, uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		if p.P < 0.05 {
			plain++
		}
		if b.P < 0.05 {
			blocked++
		}
		if b.Blocks != [2]int{12, 12} {
			t.Fatalf("blocks %v, want 12 a side", b.Blocks)
		}
	}
	t.Logf("p99 of bursty runs, same process: p < 0.05 in %d of %d value by value, %d in blocks", plain, pairs, blocked)
	if float64(blocked)/pairs > 0.12 || 2*blocked >= plain {
		t.Errorf("block bootstrap false positives %d of %d (value by value %d)", blocked, pairs, plain)
	}
	found := 0
	for i := range 50 {
		x, xb := bsBursty(rng, 1000, 0)
		y, yb := bsBursty(rng, 1000, 0.2)
		b, err := BlockBootstrapQuantileDiff(x, xb, y, yb, 0.95, 0.95, 400, uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		if b.P < 0.05 && b.Low > 0 {
			found++
		}
	}
	if found < 45 {
		t.Errorf("a replica 200 ms slower found at p95 in %d of 50", found)
	}
}

// TestSelectQuantileMatchesSort: selection gives the sorted quantile.
func TestSelectQuantileMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for n := 1; n < 60; n++ {
		for _, q := range []float64{0, 0.5, 0.95, 0.99, 1} {
			xs := make([]float64, n)
			for i := range xs {
				xs[i] = float64(rng.IntN(20)) // ties on purpose
			}
			want := Quantile(slices.Sorted(slices.Values(xs)), q)
			if got := bsSelectQuantile(xs, q); got != want {
				t.Fatalf("n %d q %g: selected %v, sorted %v", n, q, got, want)
			}
		}
	}
}
