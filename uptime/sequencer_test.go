package uptime

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiuptime/aiuptime/probe"
)

// randomRun is n results at 1 ms intervals with latencies of 1..60 ms,
// sends up to 3 ms late, bursts of failures (errors, some timeouts of
// 300 ms) and slow good answers.
func randomRun(rng *rand.Rand, n int) []probe.Result {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]probe.Result, n)
	burst := 0
	for i := range out {
		start := base.Add(time.Duration(i) * time.Millisecond)
		r := probe.Result{Seq: uint64(i), Start: start, Sent: start.Add(time.Duration(rng.IntN(3000)) * time.Microsecond),
			Latency: time.Duration(1+rng.IntN(60)) * time.Millisecond, TTFT: time.Millisecond, Outcome: probe.OK}
		if burst == 0 && rng.IntN(200) == 0 {
			burst = 1 + rng.IntN(40)
		}
		switch {
		case burst > 0:
			burst--
			r.Outcome, r.Latency = probe.Error, time.Duration(4+rng.IntN(3000))*time.Microsecond
			if rng.IntN(8) == 0 {
				r.Outcome, r.Latency = probe.Timeout, 300*time.Millisecond
			}
		case rng.IntN(50) == 0:
			r.Latency = time.Duration(100+rng.IntN(400)) * time.Millisecond
		}
		r.Latency = max(r.Latency, r.Sent.Sub(r.Start)+time.Microsecond)
		out[i] = r
	}
	return out
}

// TestSequencerMatchesObservationOrder checks the streaming order (heap,
// calm FIFO, watermark) against the definition: every answer sorted by
// observation time, then folded into the detector.
func TestSequencerMatchesObservationOrder(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		rs := randomRun(rng, 20000)
		xs := make([]answer, len(rs))
		for i, r := range rs {
			xs[i] = resultAnswer(r)
		}
		slices.SortFunc(xs, func(x, y answer) int {
			if x.at() != y.at() {
				return int(x.at() - y.at())
			}
			return int(x.other() - y.other())
		})
		ref := detector{failover: DefaultFailoverThreshold, recovery: DefaultRecoveryThreshold}
		var want []Outage
		for _, x := range xs {
			if o := ref.step(x); o != nil {
				want = append(want, *o)
			}
		}
		if len(want) < 5 {
			t.Fatalf("seed %d: only %d outages: a weak case", seed, len(want))
		}
		// Arrival in completion order, as a probe's channel delivers.
		slices.SortStableFunc(rs, func(x, y probe.Result) int { return x.End().Compare(y.End()) })
		a, err := NewAnalyzer()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			a.Add(r)
		}
		got := a.Close().Outages
		if ref.down {
			got = got[:len(got)-1] // the ongoing one
		}
		for i := range got {
			got[i].Phases = nil // added from them by attribute
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("seed %d: outages (-sorted +streamed):\n%s", seed, diff)
		}
	}
}
