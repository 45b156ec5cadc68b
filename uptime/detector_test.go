package uptime_test

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiuptime/aiuptime/probe"
	"github.com/aiuptime/aiuptime/uptime"
)

// restart is a direct probe across a server restart: requests 10..19 fail
// fast (the engine died), 20..27 are sent while the server restarts and
// wait in its listen backlog until it serves again at at(40), when they
// succeed; 28..39 fail fast (the new server answers 503 while loading); the
// answers are good again from at(40).
func restart() []probe.Result {
	rs := timeline(strings.Repeat(".", 10) + strings.Repeat("x", 10) + strings.Repeat(".", 8) + strings.Repeat("x", 12) + strings.Repeat(".", 20))
	for i := 20; i < 28; i++ {
		rs[i].Latency = at(40).Add(time.Duration(i-19) * time.Millisecond).Sub(rs[i].Start)
	}
	return rs
}

// TestOutageBoundsUseObservedTimes: an outage starts when its first failed
// request was sent and ends when the first good answer after which answers
// keep succeeding arrived.
func TestOutageBoundsUseObservedTimes(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		rs   func() []probe.Result
		want []span
	}{
		{"start is the first failure's actual send", func() []probe.Result {
			rs := timeline("...xxxx......")
			rs[3].Sent, rs[3].Latency = at(3).Add(7*ms), 10*ms
			return rs
		}, []span{{at(3).Add(7 * ms), done(7), 4, 4, false}}},
		{"a failure in flight across a good answer is not part of the run", func() []probe.Result {
			rs := timeline("...xxxxx......")
			rs[2].Latency = 50 * ms // answers at at(3)+30ms, after 3 and 4 left
			return rs
		}, []span{{at(5), done(8), 3, 3, false}}},
		{"end is the first good answer's arrival", func() []probe.Result {
			rs := timeline("...xxxx......")
			rs[7].Sent, rs[7].Latency = at(7).Add(15*ms), 20*ms
			return rs
		}, []span{{at(3), at(7).Add(20 * ms), 4, 4, false}}},
		{"slow good answers queued during a restart do not split it", restart,
			[]span{{at(10), at(40).Add(ms), 22, 22, false}}},
		{"a slow failure sent during the outage does not reopen it", func() []probe.Result {
			rs := timeline("..xxxxx..........")
			rs[6].Latency = 200 * ms // fails after recovery was confirmed
			return rs
		}, []span{{at(2), done(7), 5, 5, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := tt.rs()
			if diff := cmp.Diff(tt.want, spans(analyze(t, rs, nil))); diff != "" {
				t.Errorf("outages (-want +got):\n%s", diff)
			}
			sh := slices.Clone(rs)
			rand.New(rand.NewPCG(3, 4)).Shuffle(len(sh), func(i, j int) { sh[i], sh[j] = sh[j], sh[i] })
			if diff := cmp.Diff(tt.want, spans(analyze(t, sh, nil))); diff != "" {
				t.Errorf("shuffled outages (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWindowOutageInArrivalOrder feeds the Window results as they arrive
// (by completion): a timeout sent during the outage and failing after the
// recovery must not open a second outage.
func TestWindowOutageInArrivalOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		rs   []probe.Result
	}{
		{"restart", restart()},
		{"late timeouts", func() []probe.Result {
			rs := timeline("..xxxttt" + strings.Repeat(".", 25))
			for i := 5; i < 8; i++ { // all three fail at about at(25)
				rs[i].Latency = at(25).Add(time.Duration(i-4) * time.Millisecond).Sub(rs[i].Start)
			}
			return rs
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := slices.Clone(tc.rs)
			slices.SortStableFunc(rs, func(x, y probe.Result) int { return x.End().Compare(y.End()) })
			w, _ := uptime.NewWindow(time.Minute)
			opened, down := 0, false
			for _, r := range rs {
				w.Add(r)
				s := w.Stats(r.End())
				if s.InOutage && !down {
					opened++
				}
				down = s.InOutage
			}
			if opened != 1 || down {
				t.Errorf("outages opened %d (want 1), down at the end %v", opened, down)
			}
		})
	}
}

// A slow good answer that ends after the failures began (concurrent
// requests) must not push the outage's start past its end.
func TestOutageNeverEndsBeforeItStarts(t *testing.T) {
	ms := time.Millisecond
	rs := []probe.Result{
		{Seq: 0, Start: at(0), Latency: 3 * time.Second, Outcome: probe.OK},
		{Seq: 1, Start: at(0).Add(20 * ms), Latency: 5 * time.Second, Outcome: probe.Timeout},
		{Seq: 2, Start: at(0).Add(40 * ms), Latency: 10 * ms, Outcome: probe.Error},
		{Seq: 3, Start: at(0).Add(60 * ms), Latency: 10 * ms, Outcome: probe.Error},
	}
	for i := range 5 {
		rs = append(rs, probe.Result{Seq: uint64(4 + i), Start: at(0).Add(time.Duration(100+20*i) * ms), Latency: 10 * ms, Outcome: probe.OK})
	}
	a := analyze(t, rs, nil)
	if len(a.Outages) != 1 {
		t.Fatalf("outages %+v", a.Outages)
	}
	if o := a.Outages[0]; o.Duration < 0 || o.End.Before(o.Start) {
		t.Errorf("outage runs backwards: %+v", o)
	}
}
