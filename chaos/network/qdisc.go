package network

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/chaos"
)

// NetemSpec is a netem configuration. Ratios are 0..1 fractions.
type NetemSpec struct {
	Delay            time.Duration `json:"delay,omitempty"`
	Jitter           time.Duration `json:"jitter,omitempty"`
	DelayCorrelation float64       `json:"delay_correlation,omitempty"`
	Loss             float64       `json:"loss,omitempty"`
	LossCorrelation  float64       `json:"loss_correlation,omitempty"`
	Duplicate        float64       `json:"duplicate,omitempty"`
	Corrupt          float64       `json:"corrupt,omitempty"`
	Reorder          float64       `json:"reorder,omitempty"`
}

// qdiscState is what the "network/qdisc" reverter needs.
type qdiscState struct {
	Target Target `json:"target"`
	Links  []Link `json:"links"`
	Handle uint32 `json:"handle"`
	Kind   string `json:"kind"`
}

func init() { chaos.RegisterStateReverter("network/qdisc", revertQdisc) }

func revertQdisc(_ context.Context, st qdiscState) error {
	return st.Target.revertIn(func(h *netlink.Handle) error {
		return eachLink(h, st.Links, func(l Link, link netlink.Link) error {
			qs, err := h.QdiscList(link)
			if err != nil {
				return fmt.Errorf("list qdiscs on %s: %w", l.Name, err)
			}
			var errs []error
			for _, q := range qs {
				if q.Attrs().Handle == st.Handle && q.Attrs().Parent == netlink.HANDLE_ROOT {
					if err := h.QdiscDel(q); err != nil && !goneErr(err) {
						errs = append(errs, fmt.Errorf("delete %s qdisc on %s: %w", st.Kind, l.Name, err))
					}
				}
			}
			return errors.Join(errs...)
		})
	})
}

// applyQdisc journals, then adds a root qdisc built by mk on every
// non-loopback interface of the target, with the handle of its record.
// Equivalent to: ip netns exec NS tc qdisc add dev IF root handle H: KIND ...
// An interface that already has a root qdisc of ours (another drill's
// fault) is refused: the kernel keeps one root qdisc per interface.
func applyQdisc(ctx context.Context, d chaos.Deps, kind, mech string, t Target, mk func(attrs netlink.QdiscAttrs) netlink.Qdisc) (chaos.Revert, error) {
	h, links, done, err := t.openLinks(kind)
	if err != nil {
		return chaos.NoRevert, err
	}
	defer done()
	id := chaos.NewID()
	st := qdiscState{Target: t, Links: links, Handle: QdiscHandleFor(id), Kind: mech}
	rec := chaos.Record{ID: id, Kind: kind, Target: t.Service, Reverter: "network/qdisc", Mechanism: mech}
	rev, _, err := chaos.Apply(ctx, d, rec, st, func(context.Context) error {
		for _, l := range links {
			q := mk(netlink.QdiscAttrs{LinkIndex: l.Index, Handle: st.Handle, Parent: netlink.HANDLE_ROOT})
			if err := h.QdiscAdd(q); err != nil {
				switch {
				case errors.Is(err, unix.ENOENT):
					return fmt.Errorf("add %s qdisc on %s: kernel lacks sch_%s: %w", mech, l.Name, mech, chaos.ErrUnsupported)
				case errors.Is(err, unix.EEXIST):
					return fmt.Errorf("add %s qdisc on %s of %s: a root qdisc is already there (another fault in force?): %w", mech, l.Name, t.Service, err)
				}
				return fmt.Errorf("add %s qdisc on %s: %w", mech, l.Name, err)
			}
		}
		return nil
	})
	return rev, err
}

func netemQdisc(s NetemSpec) func(netlink.QdiscAttrs) netlink.Qdisc {
	return func(a netlink.QdiscAttrs) netlink.Qdisc {
		return netlink.NewNetem(a, netlink.NetemQdiscAttrs{
			Latency:     uint32(s.Delay.Microseconds()),
			Jitter:      uint32(s.Jitter.Microseconds()),
			DelayCorr:   float32(s.DelayCorrelation * 100),
			Loss:        float32(s.Loss * 100),
			LossCorr:    float32(s.LossCorrelation * 100),
			Duplicate:   float32(s.Duplicate * 100),
			CorruptProb: float32(s.Corrupt * 100),
			ReorderProb: float32(s.Reorder * 100),
		})
	}
}

// tbfQdisc shapes to rate bits/s with a burst of rate/100 bytes (at least
// 3000) and 50 ms of queue.
// Equivalent to: tc qdisc add ... tbf rate R burst B latency 50ms
func tbfQdisc(bitsPerSec uint64) func(netlink.QdiscAttrs) netlink.Qdisc {
	return func(a netlink.QdiscAttrs) netlink.Qdisc {
		rate := bitsPerSec / 8
		burst := max(rate/100, 3000)
		limit := rate*50/1000 + burst
		return &netlink.Tbf{QdiscAttrs: a, Rate: rate, Limit: uint32(limit), Buffer: netlink.Xmittime(rate, uint32(burst))}
	}
}

// NetemFault applies an arbitrary netem configuration (duplicate, corrupt,
// reorder, ...). It needs sch_netem.
type NetemFault struct {
	Spec   NetemSpec
	Target Target
	Deps   chaos.Deps
	Kind   string
}

var _ chaos.Fault = (*NetemFault)(nil)

// Name names the fault.
func (f *NetemFault) Name() string { return fmt.Sprintf("%s on %s", f.kind(), f.Target.Service) }

// Mechanism is always netem.
func (f *NetemFault) Mechanism() string { return MechNetem }

func (f *NetemFault) kind() string {
	if f.Kind == "" {
		return "network-netem"
	}
	return f.Kind
}

// Inject adds the netem qdisc.
func (f *NetemFault) Inject(ctx context.Context) (chaos.Revert, error) {
	return applyQdisc(ctx, f.Deps, f.kind(), MechNetem, f.Target, netemQdisc(f.Spec))
}

// Describe lists what Inject would do.
func (f *NetemFault) Describe(context.Context) ([]string, error) {
	return []string{fmt.Sprintf("in netns %s: add root qdisc <handle of the record>: netem %+v on every non-loopback interface", f.Target.NetNS, f.Spec)}, nil
}
