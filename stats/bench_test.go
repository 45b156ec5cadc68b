package stats

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkMannWhitneyU times the whole test with its Hodges-Lehmann
// shift and interval (four order statistics of n1*n2 differences).
// Rounded samples have ties; plain ones do not.
func BenchmarkMannWhitneyU(b *testing.B) {
	for _, n := range []int{200, 1000, 2000} {
		for _, rounded := range []bool{false, true} {
			rng := rand.New(rand.NewPCG(uint64(n), 1))
			x, y := mwDraw(rng, n, 0), mwDraw(rng, n, 0.2)
			if rounded {
				for i := range x {
					x[i], y[i] = float64(int(x[i]*20)), float64(int(y[i]*20))
				}
			}
			b.Run(fmt.Sprintf("%dx%d/ties=%v", n, n, rounded), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := MannWhitneyU(x, y, 0.95); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkTwoProportions times the z-test and Fisher's walk over a
// support of ~1000 tables.
func BenchmarkTwoProportions(b *testing.B) {
	for _, c := range []struct {
		name           string
		k1, n1, k2, n2 int64
	}{
		{"z", 480, 1000, 520, 1000},
		{"fisher", 4, 1000, 900, 1_000_000},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := TwoProportions(c.k1, c.n1, c.k2, c.n2); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReservoirAdd times one Add to a full reservoir.
func BenchmarkReservoirAdd(b *testing.B) {
	r := NewReservoir(1000, 1)
	b.ReportAllocs()
	v := 0.0
	for b.Loop() {
		r.Add(v)
		v++
	}
}
