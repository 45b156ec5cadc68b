package uptime_test

import (
	"slices"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/probe"
	"github.com/aiuptime/aiuptime/uptime"
)

// TestSamplesAreBoundedDrawsOfTheRun: the analysis keeps at most the cap
// of each sample, counts every value offered, and keeps only values the
// run had: every request's latency (failures too), successful streams'
// TTFT.
func TestSamplesAreBoundedDrawsOfTheRun(t *testing.T) {
	var rs []probe.Result
	latencies := map[float64]bool{}
	for i := range 5000 {
		d := time.Duration(i+1) * time.Millisecond
		r := probe.Result{Seq: uint64(i), Start: at(i), Latency: d, Code: 200, Outcome: probe.OK}
		if i%10 == 0 {
			r.TTFT, r.Tokens = d/4, 1
		}
		if i%100 == 1 {
			r.Outcome, r.Code, r.TTFT = probe.Error, 500, d/4 // a failed stream's TTFT is not a TTFT
		}
		latencies[d.Seconds()] = true
		rs = append(rs, r)
	}
	for _, tc := range []struct {
		name              string
		opts              []uptime.Option
		wantLat, wantTTFT int
		seenLat, seenTTFT int64
	}{
		{"default cap", nil, uptime.DefaultSampleCap, 500, 5000, 500},
		{"small cap", []uptime.Option{uptime.WithSamples(100, 7)}, 100, 100, 5000, 500},
		{"none kept", []uptime.Option{uptime.WithSamples(0, 7)}, 0, 0, 5000, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := analyze(t, rs, nil, tc.opts...).Samples
			if len(s.Latency.Values) != tc.wantLat || s.Latency.Seen != tc.seenLat {
				t.Errorf("latency: %d values of %d seen, want %d of %d", len(s.Latency.Values), s.Latency.Seen, tc.wantLat, tc.seenLat)
			}
			if len(s.TTFT.Values) != tc.wantTTFT || s.TTFT.Seen != tc.seenTTFT {
				t.Errorf("ttft: %d values of %d seen, want %d of %d", len(s.TTFT.Values), s.TTFT.Seen, tc.wantTTFT, tc.seenTTFT)
			}
			for _, v := range s.Latency.Values {
				if !latencies[v] {
					t.Fatalf("latency sample %v is no request's latency", v)
				}
			}
			// Uniform over the run, not its first values: the sample's
			// median is near the run's (2.5 s of 1..5000 ms).
			if n := len(s.Latency.Values); n >= 100 {
				m := slices.Sorted(slices.Values(s.Latency.Values))[n/2]
				if m < 2.0 || m > 3.0 {
					t.Errorf("latency sample median %.3f s, want near 2.5 s: not a uniform draw", m)
				}
			}
		})
	}
}

// TestSamplesReproducible: the same results and seed give the same sample.
func TestSamplesReproducible(t *testing.T) {
	rs := timeline(string(slices.Repeat([]byte("."), 3000)))
	for i := range rs {
		rs[i].Latency = time.Duration(i%997+1) * time.Millisecond
	}
	a := analyze(t, rs, nil, uptime.WithSamples(50, 42)).Samples.Latency.Values
	b := analyze(t, rs, nil, uptime.WithSamples(50, 42)).Samples.Latency.Values
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different samples:\n%v\n%v", a, b)
	}
}
