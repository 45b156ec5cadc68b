package stats

import (
	"math"
	"slices"
	"testing"
)

func resFill(capacity int, seed uint64, n int) *Reservoir {
	r := NewReservoir(capacity, seed)
	for i := range n {
		r.Add(float64(i))
	}
	return r
}

func TestReservoirSample(t *testing.T) {
	const n, capacity = 100000, 1000
	r := resFill(capacity, 42, n)
	v := r.Values()
	if r.Seen() != n || len(v) != capacity || r.Cap() != capacity {
		t.Fatalf("Seen, len(Values), Cap = %d, %d, %d; want %d, %d, %d", r.Seen(), len(v), r.Cap(), n, capacity, capacity)
	}
	var sum float64
	for _, x := range v {
		sum += x
	}
	// The mean of a uniform sample of 0..99999 is 49999.5 with a standard
	// error of about 28868/sqrt(1000) = 913 (1.8 %); 3 % is 1.6 of them.
	if mean := sum / capacity; math.Abs(mean-50000) > 0.03*50000 {
		t.Errorf("mean of the sample %.1f, want within 3%% of 50000", mean)
	}
	sorted := slices.Clone(v)
	slices.Sort(sorted)
	if len(slices.Compact(sorted)) != capacity {
		t.Error("the sample holds a value twice")
	}
	if again := resFill(capacity, 42, n).Values(); !slices.Equal(again, v) {
		t.Error("the same seed gave a different sample")
	}
	if other := resFill(capacity, 43, n).Values(); slices.Equal(other, v) {
		t.Error("another seed gave the same sample")
	}
}

func TestReservoirShortStreams(t *testing.T) {
	tests := []struct {
		name     string
		capacity int
		n        int
		want     []float64
	}{
		{name: "empty", capacity: 5, n: 0, want: []float64{}},
		{name: "shorter than cap", capacity: 5, n: 3, want: []float64{0, 1, 2}},
		{name: "exactly cap", capacity: 4, n: 4, want: []float64{0, 1, 2, 3}},
		{name: "cap zero counts only", capacity: 0, n: 7, want: []float64{}},
		{name: "negative cap counts only", capacity: -3, n: 2, want: []float64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := resFill(tc.capacity, 1, tc.n)
			if got := r.Values(); !slices.Equal(got, tc.want) {
				t.Errorf("Values() = %v, want %v", got, tc.want)
			}
			if r.Seen() != int64(tc.n) {
				t.Errorf("Seen() = %d, want %d", r.Seen(), tc.n)
			}
		})
	}
}

func TestReservoirValuesIsACopy(t *testing.T) {
	r := resFill(3, 1, 3)
	v := r.Values()
	v[0] = 99
	if r.Values()[0] != 0 {
		t.Error("changing Values()' result changed the reservoir")
	}
}

// Every value of the stream must end up in the sample with the same
// probability Cap/Seen, early or late: over 4000 seeds, each of 0..99
// should be kept about 400 times with cap 10.
func TestReservoirInclusionIsUniform(t *testing.T) {
	const seeds, n, capacity = 4000, 100, 10
	var kept [n]int
	for s := range uint64(seeds) {
		for _, v := range resFill(capacity, s, n).Values() {
			kept[int(v)]++
		}
	}
	want := float64(seeds) * capacity / n
	sd := math.Sqrt(want * (1 - float64(capacity)/n))
	// Value-wise 4.5 SD (a false alarm once in ~1500 runs of all 100),
	// and the first and last ten on average within 3 SD of their mean.
	var first, last float64
	for v, k := range kept {
		if math.Abs(float64(k)-want) > 4.5*sd {
			t.Errorf("value %d kept %d times, want %.0f ± %.0f", v, k, want, 4.5*sd)
		}
		if v < 10 {
			first += float64(k) / 10
		}
		if v >= n-10 {
			last += float64(k) / 10
		}
	}
	if math.Abs(first-want) > 3*sd/math.Sqrt(10) || math.Abs(last-want) > 3*sd/math.Sqrt(10) {
		t.Errorf("first ten kept %.1f, last ten %.1f times on average, want %.0f each", first, last, want)
	}
}

// TestReservoirTagsStayWithTheirValues: a value replaced in a slot takes
// its tag along, so a request's time stays with its latency.
func TestReservoirTagsStayWithTheirValues(t *testing.T) {
	r := NewReservoir(100, 3)
	for i := range 10000 {
		r.AddTagged(float64(i), float64(i)*10)
	}
	vs, tags := r.Values(), r.Tags()
	if len(vs) != 100 || len(tags) != 100 {
		t.Fatalf("%d values, %d tags, want 100 each", len(vs), len(tags))
	}
	for i := range vs {
		if tags[i] != vs[i]*10 {
			t.Fatalf("slot %d: value %v with tag %v", i, vs[i], tags[i])
		}
	}
	if NewReservoir(10, 1).Tags() != nil {
		t.Error("untagged reservoir has tags")
	}
}
