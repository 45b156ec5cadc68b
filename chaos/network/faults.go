package network

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
	"github.com/vishvananda/netlink"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/hostcaps"
	"github.com/aiuptime/aiuptime/units"
)

// DelaySpec is network-delay's params. Correlation is a 0..1 fraction.
type DelaySpec struct {
	Delay       time.Duration `json:"delay"`
	Jitter      time.Duration `json:"jitter,omitempty"`
	Correlation float64       `json:"correlation,omitempty"`
}

// Validate checks ranges; errors name the field.
func (s DelaySpec) Validate() error {
	switch {
	case s.Delay <= 0:
		return fmt.Errorf("delay: %v must be positive", s.Delay)
	case s.Jitter < 0:
		return fmt.Errorf("jitter: %v must not be negative", s.Jitter)
	}
	return checkCorrelation(s.Correlation)
}

// checkCorrelation checks a netem correlation, a 0..1 fraction; the error
// names the field.
func checkCorrelation(c float64) error {
	if c < 0 || c > 1 {
		return fmt.Errorf("correlation: %v is outside 0..100 %%", c*100)
	}
	return nil
}

// Delay adds latency to everything the target sends (netem), or, without
// sch_netem, to responses through the target's Toxiproxy (latency toxic).
type Delay struct {
	Spec   DelaySpec
	Target Target
	Deps   chaos.Deps
	Kernel hostcaps.Kernel
}

var _ chaos.Fault = (*Delay)(nil)

// Name names the fault.
func (f *Delay) Name() string { return "network-delay on " + f.Target.Service }

// Mechanism is netem or toxiproxy ("" when neither can act).
func (f *Delay) Mechanism() string {
	m, _ := DelayMechanism(f.Kernel, f.Target.Proxy != nil)
	return m
}

// Inject applies the delay.
func (f *Delay) Inject(ctx context.Context) (chaos.Revert, error) {
	if err := f.Spec.Validate(); err != nil {
		return chaos.NoRevert, err
	}
	m, err := DelayMechanism(f.Kernel, f.Target.Proxy != nil)
	if err != nil {
		return chaos.NoRevert, fmt.Errorf("%w: %v", chaos.ErrUnsupported, err)
	}
	if m == MechNetem {
		return applyQdisc(ctx, f.Deps, "network-delay", MechNetem, f.Target, netemQdisc(NetemSpec{Delay: f.Spec.Delay, Jitter: f.Spec.Jitter, DelayCorrelation: f.Spec.Correlation}))
	}
	if f.Spec.Correlation != 0 {
		f.Deps.Logger().Warn("toxiproxy latency has no correlation; ignored", "target", f.Target.Service)
	}
	return applyToxic(ctx, f.Deps, "network-delay", f.Target, "latency", toxiproxy.Attributes{
		"latency": f.Spec.Delay.Milliseconds(), "jitter": f.Spec.Jitter.Milliseconds(),
	})
}

// Describe lists what Inject would do.
func (f *Delay) Describe(context.Context) ([]string, error) {
	switch f.Mechanism() {
	case MechNetem:
		return []string{fmt.Sprintf("in netns %s (%s): tc qdisc add dev <each non-lo if> root handle <record>: netem delay %v %v %.0f%%", f.Target.NetNS, f.Target.Service, f.Spec.Delay, f.Spec.Jitter, f.Spec.Correlation*100)}, nil
	case MechToxiproxy:
		return []string{fmt.Sprintf("toxiproxy %s proxy %s: add downstream latency toxic %dms jitter %dms", f.Target.Proxy.APIURL, f.Target.Proxy.Name, f.Spec.Delay.Milliseconds(), f.Spec.Jitter.Milliseconds())}, nil
	}
	_, err := DelayMechanism(f.Kernel, f.Target.Proxy != nil)
	return nil, err
}

// LossSpec is network-loss's params (fractions 0..1).
type LossSpec struct {
	Fraction    float64 `json:"fraction"`
	Correlation float64 `json:"correlation,omitempty"`
	// Peer limits the loss to traffic towards Target.PeerIPs (set by the caller).
	Peer string `json:"peer,omitempty"`
}

// Validate checks ranges; errors name the field.
func (s LossSpec) Validate() error {
	if s.Fraction <= 0 || s.Fraction > 1 {
		return fmt.Errorf("percent: %v is outside (0, 100]", s.Fraction*100)
	}
	return checkCorrelation(s.Correlation)
}

// Loss drops a fraction of the packets the target sends: netem loss, or
// without sch_netem (or towards one peer) an nftables `numgen random` drop.
type Loss struct {
	Spec   LossSpec
	Target Target
	Deps   chaos.Deps
	Kernel hostcaps.Kernel

	table string
}

var _ chaos.Fault = (*Loss)(nil)

// Observed returns the packets seen and dropped by the nftables mechanism
// while injected (kernel counters): the observed loss is dropped/seen.
func (f *Loss) Observed() (seen, dropped uint64, err error) {
	if f.table == "" {
		return 0, 0, fmt.Errorf("loss on %s: no nftables counters (mechanism %s)", f.Target.Service, f.Mechanism())
	}
	return counters(f.Target, f.table)
}

// Name names the fault.
func (f *Loss) Name() string { return "network-loss on " + f.Target.Service }

// Mechanism is netem or nftables.
func (f *Loss) Mechanism() string {
	if len(f.Target.PeerIPs) > 0 && f.Kernel.NftNumgen {
		return MechNftables
	}
	m, _ := LossMechanism(f.Kernel)
	return m
}

// Inject applies the loss.
func (f *Loss) Inject(ctx context.Context) (chaos.Revert, error) {
	if err := f.Spec.Validate(); err != nil {
		return chaos.NoRevert, err
	}
	switch f.Mechanism() {
	case MechNetem:
		return applyQdisc(ctx, f.Deps, "network-loss", MechNetem, f.Target, netemQdisc(NetemSpec{Loss: f.Spec.Fraction, LossCorrelation: f.Spec.Correlation}))
	case MechNftables:
		if f.Spec.Correlation != 0 {
			f.Deps.Logger().Warn("nftables numgen loss is uncorrelated; correlation ignored", "target", f.Target.Service)
		}
		th := uint32(math.Round(f.Spec.Fraction * hostcaps.LossScale))
		rev, table, err := applyNft(ctx, f.Deps, "network-loss", f.Target, nftChains{
			out: perPeer(exprOIF, f.Target.PeerIPs, false, concat(counter(), hostcaps.RandomDrop(th))),
		})
		f.table = table
		return rev, err
	}
	_, err := LossMechanism(f.Kernel)
	return chaos.NoRevert, fmt.Errorf("%w: %v", chaos.ErrUnsupported, err)
}

// Describe lists what Inject would do.
func (f *Loss) Describe(context.Context) ([]string, error) {
	switch f.Mechanism() {
	case MechNetem:
		return []string{fmt.Sprintf("in netns %s (%s): tc qdisc add dev <each non-lo if> root handle <record>: netem loss %.2f%% %.0f%%", f.Target.NetNS, f.Target.Service, f.Spec.Fraction*100, f.Spec.Correlation*100)}, nil
	case MechNftables:
		return []string{fmt.Sprintf("in netns %s (%s): nft add table inet aiuptime_<id>; chain out hook output; rule oif != lo %s numgen random mod 10000 < %d drop",
			f.Target.NetNS, f.Target.Service, peersText(f.Target), int(math.Round(f.Spec.Fraction*hostcaps.LossScale)))}, nil
	}
	_, err := LossMechanism(f.Kernel)
	return nil, err
}

// BandwidthSpec is network-bandwidth's params.
type BandwidthSpec struct {
	// Rate is the most the target may send.
	Rate units.Rate `json:"rate"`
}

// Bandwidth limits what the target sends with a token bucket (tbf).
type Bandwidth struct {
	Spec   BandwidthSpec
	Target Target
	Deps   chaos.Deps
}

var _ chaos.Fault = (*Bandwidth)(nil)

// Name names the fault.
func (f *Bandwidth) Name() string { return "network-bandwidth on " + f.Target.Service }

// Mechanism is tbf.
func (f *Bandwidth) Mechanism() string { return MechTBF }

// Inject adds the tbf qdisc.
func (f *Bandwidth) Inject(ctx context.Context) (chaos.Revert, error) {
	if f.Spec.Rate < units.MinRate {
		return chaos.NoRevert, fmt.Errorf("rate: %s is below %s", f.Spec.Rate, units.MinRate)
	}
	return applyQdisc(ctx, f.Deps, "network-bandwidth", MechTBF, f.Target, tbfQdisc(f.Spec.Rate.BitsPerSecond()))
}

// Describe lists what Inject would do.
func (f *Bandwidth) Describe(context.Context) ([]string, error) {
	bits := f.Spec.Rate.BitsPerSecond()
	q := tbfQdisc(bits)(netlink.QdiscAttrs{}).(*netlink.Tbf)
	return []string{fmt.Sprintf("in netns %s (%s): tc qdisc add dev <each non-lo if> root handle <record>: tbf rate %dbit limit %d", f.Target.NetNS, f.Target.Service, bits, q.Limit)}, nil
}

// PartitionSpec is network-partition's params.
type PartitionSpec struct {
	// Peer, if set, cuts only traffic to and from that service
	// (Target.PeerIPs, nftables); otherwise every link goes down.
	Peer string `json:"peer,omitempty"`
	// Mode forces "linkdown" or "nftables" ("" chooses).
	Mode string `json:"mode,omitempty"`
}

// Partition cuts the target off the network: link down on every
// non-loopback interface, or nftables drops (towards a peer).
type Partition struct {
	Spec   PartitionSpec
	Target Target
	Deps   chaos.Deps
}

var _ chaos.Fault = (*Partition)(nil)

// Name names the fault.
func (f *Partition) Name() string { return "network-partition on " + f.Target.Service }

// Mechanism is linkdown or nftables.
func (f *Partition) Mechanism() string {
	if f.Spec.Mode != "" {
		return f.Spec.Mode
	}
	if len(f.Target.PeerIPs) > 0 {
		return MechNftables
	}
	return MechLinkDown
}

// Inject cuts the network.
func (f *Partition) Inject(ctx context.Context) (chaos.Revert, error) {
	if f.Spec.Peer != "" && len(f.Target.PeerIPs) == 0 {
		return chaos.NoRevert, fmt.Errorf("peer: %q has no resolved address", f.Spec.Peer)
	}
	switch f.Mechanism() {
	case MechLinkDown:
		if len(f.Target.PeerIPs) > 0 {
			return chaos.NoRevert, fmt.Errorf("mode: linkdown cannot partition from one peer")
		}
		return applyLinkDown(ctx, f.Deps, "network-partition", f.Target)
	case MechNftables:
		rev, _, err := applyNft(ctx, f.Deps, "network-partition", f.Target, nftChains{
			out: perPeer(exprOIF, f.Target.PeerIPs, false, drop),
			in:  perPeer(exprIIF, f.Target.PeerIPs, true, drop),
		})
		return rev, err
	}
	return chaos.NoRevert, fmt.Errorf("mode: %q unknown (linkdown, nftables)", f.Spec.Mode)
}

// Describe lists what Inject would do.
func (f *Partition) Describe(context.Context) ([]string, error) {
	if f.Mechanism() == MechLinkDown {
		return []string{fmt.Sprintf("in netns %s (%s): save routes, ip link set <each non-lo if> down", f.Target.NetNS, f.Target.Service)}, nil
	}
	return []string{fmt.Sprintf("in netns %s (%s): nft add table inet aiuptime_<id>; drop output oif != lo %s; drop input iif != lo %s", f.Target.NetNS, f.Target.Service, peersText(f.Target), peersText(f.Target))}, nil
}

func peersText(t Target) string {
	if len(t.PeerIPs) == 0 {
		return "(all peers)"
	}
	var s []string
	for _, ip := range t.PeerIPs {
		s = append(s, ip.String())
	}
	return "addr {" + strings.Join(s, ", ") + "}"
}
