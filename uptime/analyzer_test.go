package uptime_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiuptime/aiuptime/probe"
	"github.com/aiuptime/aiuptime/uptime"
)

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

const (
	step = 20 * time.Millisecond
	lat  = 5 * time.Millisecond // latency of timeline's requests
)

// timeline builds results at 20 ms intervals from a pattern: '.' good,
// 'x' error, 't' timeout. Each takes lat (a timeout 1 s).
func timeline(pattern string) []probe.Result {
	out := make([]probe.Result, len(pattern))
	for i, c := range pattern {
		r := probe.Result{Seq: uint64(i), Start: t0.Add(time.Duration(i) * step), Latency: lat, Code: 200}
		switch c {
		case 'x':
			r.Outcome, r.Code = probe.Error, 500
		case 't':
			r.Outcome, r.Code, r.Latency = probe.Timeout, 0, time.Second
		}
		out[i] = r
	}
	return out
}

func at(i int) time.Time { return t0.Add(time.Duration(i) * step) }

// done is when timeline's request i answered (unless it timed out): an
// outage ends at the first good answer of the run that recovered.
func done(i int) time.Time { return at(i).Add(lat) }

func analyze(t *testing.T, rs []probe.Result, evs []uptime.Event, opts ...uptime.Option) *uptime.Analysis {
	t.Helper()
	a, err := uptime.NewAnalyzer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		a.AddEvent(e)
	}
	for _, r := range rs {
		a.Add(r)
	}
	return a.Close()
}

type span struct {
	Start, End       time.Time
	Requests, Failed int64
	Ongoing          bool
}

func spans(a *uptime.Analysis) []span {
	var out []span
	for _, o := range a.Outages {
		out = append(out, span{o.Start, o.End, o.Requests, o.Failed, o.Ongoing})
	}
	return out
}

func TestOutageBoundaries(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		opts    []uptime.Option
		want    []span
	}{
		{"none", "..........", nil, nil},
		{"blip below failover threshold", "....xx....", nil, nil},
		{"simple", ".....xxxxx.......", nil, []span{{at(5), done(10), 5, 5, false}}},
		// Timeouts observed the service when sent, although they fail 1 s
		// later, after the good answers of requests 5..9.
		{"timeouts count", "..ttt......", nil, []span{{at(2), done(5), 3, 3, false}}},
		{"flap during recovery: ends at the recovered run", "..xxx..x.....", nil,
			[]span{{at(2), done(8), 6, 4, false}}},
		{"short good run does not end it", "..xxx....x.....", nil, []span{{at(2), done(10), 8, 4, false}}},
		{"ongoing at close", "...xxxx..", nil, []span{{at(3), at(8).Add(5 * time.Millisecond), 6, 4, true}}},
		{"two outages", ".xxx.....xxxx.....", nil, []span{{at(1), done(4), 3, 3, false}, {at(9), done(13), 4, 4, false}}},
		{"configurable thresholds", "..xx..x..", []uptime.Option{uptime.WithFailoverThreshold(2), uptime.WithRecoveryThreshold(2)},
			[]span{{at(2), done(4), 2, 2, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := timeline(tt.pattern)
			a := analyze(t, rs, nil, tt.opts...)
			if diff := cmp.Diff(tt.want, spans(a)); diff != "" {
				t.Errorf("outages (-want +got):\n%s", diff)
			}
			// Out-of-order arrival must not change anything.
			sh := slices.Clone(rs)
			rand.New(rand.NewPCG(1, 2)).Shuffle(len(sh), func(i, j int) { sh[i], sh[j] = sh[j], sh[i] })
			if diff := cmp.Diff(tt.want, spans(analyze(t, sh, nil, tt.opts...))); diff != "" {
				t.Errorf("shuffled outages (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOutageDetectionTimes(t *testing.T) {
	a := analyze(t, timeline("..xxxx........"), nil)
	o := a.Outages[0]
	// Detected when the third failure answered; confirmed at the fifth good.
	if want := at(4).Add(5 * time.Millisecond); !o.DetectedAt.Equal(want) {
		t.Errorf("detected %v, want %v", o.DetectedAt, want)
	}
	if want := at(10).Add(5 * time.Millisecond); !o.RecoveredAt.Equal(want) {
		t.Errorf("recovered %v, want %v", o.RecoveredAt, want)
	}
	if o.Duration != 4*step+lat {
		t.Errorf("duration %v", o.Duration)
	}
}

// TestMTTRMTBF uses known intervals: outages of 2 s and 4 s in a 60 s run.
func TestMTTRMTBF(t *testing.T) {
	var rs []probe.Result
	for i := range 3000 { // 60 s at 20 ms
		r := probe.Result{Seq: uint64(i), Start: at(i), Latency: 0, Outcome: probe.OK}
		if (i >= 500 && i < 600) || (i >= 1500 && i < 1700) {
			r.Outcome = probe.Error
		}
		rs = append(rs, r)
	}
	a := analyze(t, rs, nil)
	if len(a.Outages) != 2 {
		t.Fatalf("outages %d", len(a.Outages))
	}
	span := 3000 * step
	if a.Span != span-step {
		t.Fatalf("span %v", a.Span)
	}
	if a.MTTR != 3*time.Second || a.Downtime != 6*time.Second || a.LongestOutage != 4*time.Second {
		t.Errorf("MTTR %v downtime %v longest %v, want 3s 6s 4s", a.MTTR, a.Downtime, a.LongestOutage)
	}
	if want := (a.Span - 6*time.Second) / 2; a.MTBF != want {
		t.Errorf("MTBF %v, want %v", a.MTBF, want)
	}
	if got, want := a.Availability.RequestBased, 2700.0/3000; math.Abs(got-want) > 1e-12 {
		t.Errorf("request-based availability %v, want %v", got, want)
	}
	// 60 one-second slices, 6 of them entirely bad.
	if a.Availability.Slices != 60 || a.Availability.GoodSlices != 54 {
		t.Errorf("slices %d good %d, want 60/54", a.Availability.Slices, a.Availability.GoodSlices)
	}
	if got, want := a.Availability.Uptime, 1-6/a.Span.Seconds(); math.Abs(got-want) > 1e-9 {
		t.Errorf("uptime %v, want %v", got, want)
	}
	if tot, good := a.Counts(t0.Add(10*time.Second), t0.Add(12*time.Second)); tot != 100 || good != 0 {
		t.Errorf("counts in the first outage: %d/%d", tot, good)
	}
	if _, err := json.Marshal(a); err != nil {
		t.Errorf("analysis must encode as JSON: %v", err)
	}
	empty, _ := uptime.NewAnalyzer()
	if _, err := json.Marshal(empty.Close()); err != nil {
		t.Errorf("empty analysis must encode as JSON: %v", err)
	}
}

func TestTimeBasedSliceTarget(t *testing.T) {
	// 50 requests per slice; one failure per slice in slices 0..4.
	var rs []probe.Result
	for i := range 500 {
		r := probe.Result{Seq: uint64(i), Start: at(i), Outcome: probe.OK}
		if i%50 == 0 && i < 250 {
			r.Outcome = probe.Error
		}
		rs = append(rs, r)
	}
	if a := analyze(t, rs, nil); a.Availability.TimeBased != 1 {
		t.Errorf("98%% slices with target 95%%: time-based %v, want 1", a.Availability.TimeBased)
	}
	if a := analyze(t, rs, nil, uptime.WithSliceTarget(1)); a.Availability.TimeBased != 0.5 {
		t.Errorf("target 100%%: time-based %v, want 0.5", a.Availability.TimeBased)
	}
}

// TestPercentilesAgainstSortedReference checks HDR quantiles against the
// nearest-rank quantile of the sorted samples within HDR precision.
func TestPercentilesAgainstSortedReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	var rs []probe.Result
	var ref []time.Duration
	for i := range 100000 {
		d := time.Duration(math.Exp(rng.NormFloat64()*0.8 + math.Log(50e6))) // lognormal around 50 ms
		rs = append(rs, probe.Result{Seq: uint64(i), Start: at(i), Latency: d, TTFT: d / 3, Outcome: probe.OK, Tokens: 1})
		ref = append(ref, d)
	}
	// Failures are beside, not inside, the success distributions.
	rs = append(rs, probe.Result{Seq: 100000, Start: at(100000), Latency: time.Hour, Outcome: probe.Error},
		probe.Result{Seq: 100001, Start: at(100001), Latency: time.Minute, Outcome: probe.Stalled})
	a := analyze(t, rs, nil)
	slices.Sort(ref)
	for _, q := range []float64{0.5, 0.9, 0.95, 0.99, 0.999} {
		want := ref[int(math.Ceil(q*float64(len(ref))))-1]
		for _, m := range []uptime.Metric{uptime.MetricE2E} {
			got := a.Quantile(m, q)
			if rel := math.Abs(float64(got-want)) / float64(want); rel > 0.002 {
				t.Errorf("%s q%v = %v, reference %v (rel err %.4f)", m, q, got, want, rel)
			}
		}
	}
	if a.E2E.Count != 100000 || a.E2E.Failed != 1 || a.E2E.Incomplete != 1 {
		t.Errorf("e2e count %d failed %d incomplete %d", a.E2E.Count, a.E2E.Failed, a.E2E.Incomplete)
	}
	if a.Latency.Count != 100002 || a.Latency.Max < 59*time.Minute {
		t.Errorf("latency over all requests: count %d max %v", a.Latency.Count, a.Latency.Max)
	}
	if got, want := a.TTFT.P95, ref[94999]/3; math.Abs(float64(got-want))/float64(want) > 0.002 {
		t.Errorf("ttft p95 %v, want %v", got, want)
	}
	// FractionAbove the reference p95 is about 5 %.
	if f := a.FractionAbove(uptime.MetricE2E, ref[94999]); math.Abs(f-0.05) > 0.002 {
		t.Errorf("fraction above p95 = %v", f)
	}
}

func TestGoodputAndTPOT(t *testing.T) {
	rs := []probe.Result{
		{Seq: 0, Start: at(0), Latency: 900 * time.Millisecond, TTFT: 100 * time.Millisecond, Tokens: 9, Outcome: probe.OK}, // tpot 100ms
		{Seq: 1, Start: at(1), Latency: 500 * time.Millisecond, TTFT: 100 * time.Millisecond, Tokens: 9, Outcome: probe.OK}, // tpot 50ms
		{Seq: 2, Start: at(2), Latency: 500 * time.Millisecond, TTFT: 600 * time.Millisecond, Tokens: 1, Outcome: probe.OK}, // ttft too slow
		{Seq: 3, Start: at(3), Latency: 10 * time.Millisecond, Outcome: probe.Error},
	}
	a := analyze(t, rs, nil, uptime.WithGoodput(uptime.Criteria{MaxTTFT: 500 * time.Millisecond, MaxTPOT: 50 * time.Millisecond}))
	if a.Goodput.Good != 1 || a.Goodput.Attainment != 0.25 {
		t.Errorf("goodput %+v, want 1 good, attainment 0.25", a.Goodput)
	}
	if a.TPOT.Count != 2 || a.TPOT.Max < 99*time.Millisecond {
		t.Errorf("tpot %+v", a.TPOT)
	}
}

// An outage whose first failed request was sent just before the second
// fault landed is the second fault's, not the first's (a harmless kill that
// the gateway masked earlier must not get its recovery time).
func TestRecoveryAttributedToTheNearestFault(t *testing.T) {
	rs := timeline(strings.Repeat(".", 100) + strings.Repeat("x", 20) + strings.Repeat(".", 20))
	evs := []uptime.Event{
		{At: at(20), Kind: uptime.FaultInjected, Step: "masked kill", Target: "model-0"},
		{At: at(100).Add(5 * time.Millisecond), Kind: uptime.FaultInjected, Step: "partition", Target: "model-1"},
	}
	a := analyze(t, rs, evs, uptime.WithCauseTolerance(time.Second))
	if len(a.Outages) != 1 || a.Outages[0].Cause != "partition" {
		t.Fatalf("outages %+v", a.Outages)
	}
	if r := a.Recoveries[0]; r.Outage != -1 {
		t.Errorf("masked kill got the partition's outage: %+v", r)
	}
	if r := a.Recoveries[1]; r.Outage != 0 || r.Time != done(120).Sub(at(100).Add(5*time.Millisecond)) {
		t.Errorf("partition recovery %+v", r)
	}
}

func TestEventsCausesPhasesRecoveries(t *testing.T) {
	rs := timeline(".........." + "xxxxxxxxxx" + ".........." + "..........")
	evs := []uptime.Event{
		{At: at(0), Kind: uptime.StepStarted, Step: "steady"},
		{At: at(10).Add(3 * time.Millisecond), Kind: uptime.FaultInjected, Step: "kill gpu", Target: "model-0"},
		{At: at(11), Kind: uptime.Detected},
		{At: at(18), Kind: uptime.EngineUp},
		{At: at(30), Kind: uptime.FaultInjected, Step: "harmless", Target: "model-1"},
	}
	a := analyze(t, rs, evs)
	if len(a.Outages) != 1 {
		t.Fatalf("outages %+v", a.Outages)
	}
	o := a.Outages[0]
	if o.Cause != "kill gpu" {
		t.Errorf("cause %q", o.Cause)
	}
	var names []string
	for _, p := range o.Phases {
		names = append(names, p.Source+":"+p.Name)
	}
	want := []string{"event:detected", "probe:detected", "event:engine-ready", "probe:first-good", "probe:recovery-confirmed"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
	if len(a.Recoveries) != 2 {
		t.Fatalf("recoveries %+v", a.Recoveries)
	}
	if r := a.Recoveries[0]; r.Outage != 0 || r.Time != done(20).Sub(at(10).Add(3*time.Millisecond)) {
		t.Errorf("recovery after kill: %+v", r)
	}
	if r := a.Recoveries[1]; r.Outage != -1 || r.Time != 0 {
		t.Errorf("recovery after harmless fault: %+v", r)
	}
	if d, ok := a.RecoveryAfter(at(12), time.Time{}); !ok || d != 8*step+lat {
		t.Errorf("RecoveryAfter mid-outage = %v %v", d, ok)
	}
}

func TestBucketsRecordsAndFallback(t *testing.T) {
	var rs []probe.Result
	for i := range 200 { // 4 s
		r := probe.Result{Seq: uint64(i), Start: at(i), Latency: time.Duration(i%50+1) * time.Millisecond, Outcome: probe.OK, Backend: []string{"a", "b"}[i%2]}
		if i >= 50 && i < 75 {
			r.Outcome = probe.Error
		}
		rs = append(rs, r)
	}
	a := analyze(t, rs, nil)
	b := a.Buckets(time.Second)
	if len(b) != 4 || b[1].Total != 50 || b[1].Good != 25 || b[1].SuccessRate != 0.5 {
		t.Fatalf("buckets %+v", b)
	}
	if b[0].LatencyP95 != 48*time.Millisecond || b[0].LatencyMax != 50*time.Millisecond {
		t.Errorf("bucket 0 p95 %v max %v", b[0].LatencyP95, b[0].LatencyMax)
	}
	n := 0
	for r := range a.Records() {
		if r.Backend != []string{"a", "b"}[n%2] || !r.Start.Equal(at(n)) {
			t.Fatalf("record %d: %+v", n, r)
		}
		n++
	}
	if n != 200 || a.RecordsKept != 200 || a.RecordsDropped != 0 {
		t.Errorf("records %d kept %d dropped %d", n, a.RecordsKept, a.RecordsDropped)
	}
	// Without records the slices give the same counts.
	c := analyze(t, rs, nil, uptime.WithRecordCap(10))
	if c.RecordsDropped != 190 {
		t.Errorf("dropped %d", c.RecordsDropped)
	}
	fb := c.Buckets(time.Second)
	for i := range b {
		if fb[i].Total != b[i].Total || fb[i].Good != b[i].Good || fb[i].LatencyMax != b[i].LatencyMax || !fb[i].Start.Equal(b[i].Start) {
			t.Errorf("fallback bucket %d %+v vs %+v", i, fb[i], b[i])
		}
	}
	if tot, good := c.Counts(t0.Add(time.Second), t0.Add(2*time.Second)); tot != 50 || good != 25 {
		t.Errorf("slice counts %d/%d", tot, good)
	}
	if a.ByBackend["a"] != 100 || a.ByOutcome["error"] != 25 || a.ByCode[0] != 200 {
		t.Errorf("counters %v %v %v", a.ByBackend, a.ByOutcome, a.ByCode)
	}
}

func TestWindow(t *testing.T) {
	w, err := uptime.NewWindow(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rs := timeline("....." + "xxxx" + ".....")
	for _, r := range rs[:9] {
		w.Add(r)
	}
	now := rs[8].End()
	s := w.Stats(now)
	if s.Total != 9 || s.Failed != 4 || !s.InOutage || !s.OutageSince.Equal(at(5)) || s.Recovered {
		t.Fatalf("mid-outage stats %+v", s)
	}
	for _, r := range rs[9:] {
		w.Add(r)
	}
	s = w.Stats(rs[13].End())
	if s.InOutage || !s.Recovered || s.Streak != 5 {
		t.Fatalf("after recovery %+v", s)
	}
	// Ten seconds later the window is empty.
	if av, n := w.Availability(now.Add(10 * time.Second)); av != 1 || n != 0 {
		t.Errorf("stale window availability %v over %d", av, n)
	}
	if p := w.P95(rs[13].End()); p != 5*time.Millisecond {
		t.Errorf("p95 %v", p)
	}
}

func TestOptionsRejectBadValues(t *testing.T) {
	for _, o := range []uptime.Option{uptime.WithFailoverThreshold(0), uptime.WithRecoveryThreshold(0),
		uptime.WithSliceWidth(0), uptime.WithSliceTarget(0), uptime.WithRecordCap(-1)} {
		if _, err := uptime.NewAnalyzer(o); err == nil {
			t.Error("want an error")
		}
	}
}
