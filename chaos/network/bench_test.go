package network

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/chaostest"
	"github.com/aiuptime/aiuptime/hostcaps"
)

// BenchmarkInjectRevert times inject and revert (journal fsync included)
// per mechanism in a scratch netns pair; reports inject-ms and revert-ms.
func BenchmarkInjectRevert(b *testing.B) {
	p := newPair(b)
	tg := Target{Service: "a", NetNS: p.path(p.a)}
	caps := hostcaps.Kernel{NftNumgen: true}
	for _, tc := range []struct {
		name string
		mk   func(d chaos.Deps) chaos.Fault
	}{
		{"tbf", func(d chaos.Deps) chaos.Fault {
			return &Bandwidth{Spec: BandwidthSpec{Rate: 10_000_000}, Target: tg, Deps: d}
		}},
		{"nftables-loss", func(d chaos.Deps) chaos.Fault {
			return &Loss{Spec: LossSpec{Fraction: 0.1}, Target: tg, Deps: d, Kernel: caps}
		}},
		{"nftables-partition", func(d chaos.Deps) chaos.Fault {
			t := tg
			t.PeerIPs = []net.IP{net.ParseIP("10.99.0.2")}
			return &Partition{Spec: PartitionSpec{Peer: "b"}, Target: t, Deps: d}
		}},
		{"linkdown", func(d chaos.Deps) chaos.Fault { return &Partition{Target: tg, Deps: d} }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			d := chaostest.Deps(b)
			var inj, rev time.Duration
			for i := 0; i < b.N; i++ {
				f := tc.mk(d)
				t0 := time.Now()
				r, err := f.Inject(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := r(context.Background()); err != nil {
					b.Fatal(err)
				}
				inj += t1.Sub(t0)
				rev += time.Since(t1)
			}
			b.ReportMetric(float64(inj.Microseconds())/1000/float64(b.N), "inject-ms")
			b.ReportMetric(float64(rev.Microseconds())/1000/float64(b.N), "revert-ms")
		})
	}
}
