package uptime_test

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/probe"
	"github.com/aiuptime/aiuptime/uptime"
)

// synth returns result i of a synthetic run at 1 ms intervals: 0.1 % random
// errors and a 3-second outage every 10 minutes.
func synth(i int) probe.Result {
	r := probe.Result{Seq: uint64(i), Start: t0.Add(time.Duration(i) * time.Millisecond),
		Latency: time.Duration(20+(i*7919)%480) * time.Millisecond, TTFT: 15 * time.Millisecond,
		Tokens: 8, Code: 200, Outcome: probe.OK, Backend: []string{"replica-0", "replica-1"}[i%2]}
	if i%1000 == 999 || i%600000 < 3000 && i > 3000 {
		r.Outcome, r.Code, r.Latency = probe.Error, 500, time.Millisecond
	}
	return r
}

// benchAnalyze feeds n results and reports time per result and the heap
// the Analysis keeps (after GC) per result.
func benchAnalyze(b *testing.B, n int) {
	b.ReportAllocs()
	var retained uint64
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		a, err := uptime.NewAnalyzer()
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			a.Add(synth(i))
		}
		an := a.Close()
		_ = an.Buckets(time.Second)
		runtime.GC()
		runtime.ReadMemStats(&after)
		retained = after.HeapAlloc - min(before.HeapAlloc, after.HeapAlloc)
		if an.Total != int64(n) {
			b.Fatalf("total %d", an.Total)
		}
		runtime.KeepAlive(an)
		runtime.KeepAlive(a)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/result")
	b.ReportMetric(float64(retained)/float64(n), "retained-B/result")
	b.ReportMetric(float64(retained)/(1<<20), "retained-MiB")
}

// BenchmarkAnalyze measures analysis time and memory for 1 M results, and
// 10 M with AIUPTIME_BENCH_10M=1 (about 10 s).
func BenchmarkAnalyze(b *testing.B) {
	b.Run("1M", func(b *testing.B) { benchAnalyze(b, 1_000_000) })
	b.Run("10M", func(b *testing.B) {
		if os.Getenv("AIUPTIME_BENCH_10M") == "" {
			b.Skip("set AIUPTIME_BENCH_10M=1 to analyse 10 M results")
		}
		benchAnalyze(b, 10_000_000)
	})
}

// BenchmarkAnalyzerAdd is the cost of one Add in steady state.
func BenchmarkAnalyzerAdd(b *testing.B) {
	a, _ := uptime.NewAnalyzer()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		a.Add(synth(i))
	}
}

// BenchmarkWindow is the cost of one Add plus a Stats query per 100 adds on
// a 10 s window at 500 results/s.
func BenchmarkWindow(b *testing.B) {
	w, _ := uptime.NewWindow(10 * time.Second)
	b.ReportAllocs()
	for i := range b.N {
		r := synth(i)
		r.Start = t0.Add(time.Duration(i) * 2 * time.Millisecond)
		w.Add(r)
		if i%100 == 0 {
			_ = w.Stats(r.End())
		}
	}
}

func ExampleAnalyzer() {
	a, _ := uptime.NewAnalyzer(uptime.WithFailoverThreshold(3), uptime.WithRecoveryThreshold(5))
	for i := range 20 {
		r := probe.Result{Seq: uint64(i), Start: t0.Add(time.Duration(i) * 20 * time.Millisecond), Latency: 5 * time.Millisecond, Outcome: probe.OK}
		if i >= 5 && i < 10 {
			r.Outcome = probe.Error
		}
		a.Add(r)
	}
	an := a.Close()
	fmt.Printf("availability %.2f, outages %d, MTTR %v\n", an.Availability.RequestBased, len(an.Outages), an.MTTR)
	// Output: availability 0.75, outages 1, MTTR 105ms
}
