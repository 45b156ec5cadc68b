package network

import (
	"context"
	"fmt"
	"net"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/param"
	"github.com/aiuptime/aiuptime/stack"
)

// Fault kind names.
const (
	KindDelay     = "network-delay"
	KindLoss      = "network-loss"
	KindBandwidth = "network-bandwidth"
	KindPartition = "network-partition"
)

var peerParam = param.Spec{Name: "peer", Type: param.Service, Doc: "only traffic to and from this service (nftables); default: all traffic"}

func init() {
	register(chaos.Def[DelaySpec]{
		Name:        KindDelay,
		Description: "add latency to what the target sends (netem; the Toxiproxy latency toxic in front of the service where sch_netem is missing)",
		Params: []param.Spec{
			{Name: "delay", Type: param.Duration, Required: true, Positive: true, Doc: "added one-way latency, e.g. 200ms"},
			{Name: "jitter", Type: param.Duration, Default: "0s", Doc: "random variation of the delay"},
			{Name: "correlation", Type: param.Percent, Default: "0", Unit: "%", Doc: "correlation with the previous packet's delay (netem only)"},
		},
		Mechanisms: []string{MechNetem, MechToxiproxy},
		Decode: func(v param.Values) (DelaySpec, error) {
			return DelaySpec{Delay: v.Duration("delay"), Jitter: v.Duration("jitter"), Correlation: v.Percent("correlation").Fraction()}, nil
		},
		Build: func(ctx context.Context, env chaos.Env, svc stack.Service, s DelaySpec) (chaos.Fault, error) {
			t, err := targetOf(ctx, env.Stack, svc.Name, env.Kernel.Netem)
			return &Delay{Spec: s, Target: t, Deps: env.Deps(), Kernel: env.Kernel}, err
		},
	})
	register(chaos.Def[LossSpec]{
		Name:        KindLoss,
		Description: "drop a share of the packets the target sends (netem loss; nftables numgen random drop where sch_netem is missing, or towards one peer)",
		Params: []param.Spec{
			{Name: "percent", Type: param.Percent, Required: true, Positive: true, Unit: "% of packets", Doc: "share of packets dropped, 0 < p <= 100"},
			{Name: "correlation", Type: param.Percent, Default: "0", Unit: "%", Doc: "correlation with the previous packet's fate (netem only)"},
			peerParam,
		},
		Mechanisms: []string{MechNetem, MechNftables},
		Decode: func(v param.Values) (LossSpec, error) {
			return LossSpec{Fraction: v.Percent("percent").Fraction(), Correlation: v.Percent("correlation").Fraction(), Peer: v.String("peer")}, nil
		},
		Build: func(ctx context.Context, env chaos.Env, svc stack.Service, s LossSpec) (chaos.Fault, error) {
			t, err := peerTarget(ctx, env.Stack, svc.Name, s.Peer)
			return &Loss{Spec: s, Target: t, Deps: env.Deps(), Kernel: env.Kernel}, err
		},
	})
	register(chaos.Def[BandwidthSpec]{
		Name:        KindBandwidth,
		Description: "limit what the target sends with a token bucket (tbf)",
		Params: []param.Spec{
			{Name: "rate", Type: param.Rate, Required: true, Unit: "bit/s", Doc: "the most the target may send, e.g. 100kbit or 10mbit"},
		},
		Mechanisms: []string{MechTBF},
		Decode:     func(v param.Values) (BandwidthSpec, error) { return BandwidthSpec{Rate: v.Rate("rate")}, nil },
		Build: func(ctx context.Context, env chaos.Env, svc stack.Service, s BandwidthSpec) (chaos.Fault, error) {
			t, err := targetOf(ctx, env.Stack, svc.Name, true)
			return &Bandwidth{Spec: s, Target: t, Deps: env.Deps()}, err
		},
	})
	register(chaos.Def[PartitionSpec]{
		Name:        KindPartition,
		Description: "cut the target off the network: every link down, or nftables drops to and from one peer",
		Params:      []param.Spec{peerParam},
		Mechanisms:  []string{MechLinkDown, MechNftables},
		Decode:      func(v param.Values) (PartitionSpec, error) { return PartitionSpec{Peer: v.String("peer")}, nil },
		Build: func(ctx context.Context, env chaos.Env, svc stack.Service, s PartitionSpec) (chaos.Fault, error) {
			t, err := peerTarget(ctx, env.Stack, svc.Name, s.Peer)
			return &Partition{Spec: s, Target: t, Deps: env.Deps()}, err
		},
	})
}

// register adds a network kind: every one acts through the stack's
// network capability, and they share the audit.
func register[S any](d chaos.Def[S]) {
	d.Needs, d.Audit = []stack.Capability{stack.CapNetwork}, audit
	chaos.Register(d)
}

// peerTarget is the service's namespace target limited to the peer's
// addresses ("" is every peer).
func peerTarget(ctx context.Context, st stack.Stack, service, peer string) (Target, error) {
	t, err := targetOf(ctx, st, service, true)
	if err != nil {
		return t, err
	}
	t.PeerIPs, err = peerIPs(ctx, st, peer)
	return t, err
}

// peerIPs resolves a peer service to its addresses ("" is every peer).
func peerIPs(ctx context.Context, st stack.Stack, peer string) ([]net.IP, error) {
	if peer == "" {
		return nil, nil
	}
	if _, err := st.Service(ctx, peer); err != nil {
		return nil, fmt.Errorf("params.peer: %q: %w", peer, chaos.ErrNotInStack)
	}
	ips, err := st.(stack.Networker).Addrs(ctx, peer)
	if err != nil {
		return nil, fmt.Errorf("params.peer: %w", err)
	}
	return ips, nil
}
