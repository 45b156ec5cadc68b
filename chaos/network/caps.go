package network

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Capabilities is what the kernel allowed in a scratch network namespace.
type Capabilities struct {
	Netem    bool `json:"netem"`
	TBF      bool `json:"tbf"`
	HTB      bool `json:"htb"`
	Ingress  bool `json:"ingress"`
	Nftables bool `json:"nftables"`
	// NftNumgen is nftables with `numgen random` (random loss without netem).
	NftNumgen bool `json:"nft_numgen"`
	// LinkDown is setting a veth down and up again.
	LinkDown bool `json:"link_down"`
	// Errors holds why a capability is missing, by name.
	Errors map[string]string `json:"errors,omitempty"`
}

// DelayMechanism is what network-delay uses here: netem, or toxiproxy when
// netem is missing and hasProxy.
func (c Capabilities) DelayMechanism(hasProxy bool) (string, error) {
	if c.Netem {
		return MechNetem, nil
	}
	if hasProxy {
		return MechToxiproxy, nil
	}
	return "", fmt.Errorf("network-delay: sch_netem missing (%s) and no toxiproxy in front of the target", c.Errors["netem"])
}

// LossMechanism is what network-loss uses: netem, else nftables numgen.
func (c Capabilities) LossMechanism() (string, error) {
	if c.Netem {
		return MechNetem, nil
	}
	if c.NftNumgen {
		return MechNftables, nil
	}
	return "", fmt.Errorf("network-loss: neither netem (%s) nor nftables numgen (%s)", c.Errors["netem"], c.Errors["nft_numgen"])
}

var (
	probeOnce sync.Once
	probed    Capabilities
	probeErr  error
)

// ProbeOnce runs Probe once per process and caches the result.
func ProbeOnce(ctx context.Context) (Capabilities, error) {
	probeOnce.Do(func() { probed, probeErr = Probe(ctx) })
	return probed, probeErr
}

// NewScratchNS creates a new, empty network namespace without moving the
// calling goroutine into it; close the handle to drop it.
func NewScratchNS() (netns.NsHandle, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return -1, fmt.Errorf("current netns: %w", err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		return -1, fmt.Errorf("new netns: %w", err)
	}
	if err := netns.Set(orig); err != nil {
		ns.Close()
		// The thread is stuck in the scratch namespace: never unlock it.
		runtime.LockOSThread()
		return -1, fmt.Errorf("return to original netns: %w", err)
	}
	return ns, nil
}

// Probe creates each qdisc kind and an nftables numgen rule on a veth pair
// in a scratch network namespace and records what the kernel supports.
// Nothing on the host is touched.
func Probe(ctx context.Context) (Capabilities, error) {
	c := Capabilities{Errors: map[string]string{}}
	ns, err := NewScratchNS()
	if err != nil {
		return c, fmt.Errorf("capability probe: %w", err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return c, fmt.Errorf("capability probe: %w", err)
	}
	defer h.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "probe0"}, PeerName: "probe1"}
	if err := h.LinkAdd(veth); err != nil {
		return c, fmt.Errorf("capability probe: add veth: %w", err)
	}
	link, err := h.LinkByName("probe0")
	if err != nil {
		return c, fmt.Errorf("capability probe: %w", err)
	}
	if err := h.LinkSetUp(link); err != nil {
		c.Errors["link_down"] = err.Error()
	} else if err := h.LinkSetDown(link); err != nil {
		c.Errors["link_down"] = err.Error()
	} else if err := h.LinkSetUp(link); err != nil {
		c.Errors["link_down"] = err.Error()
	} else {
		c.LinkDown = true
	}
	idx := link.Attrs().Index
	root := netlink.QdiscAttrs{LinkIndex: idx, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT}
	try := func(name string, q netlink.Qdisc, ok *bool) {
		if err := ctx.Err(); err != nil {
			c.Errors[name] = err.Error()
			return
		}
		if err := h.QdiscAdd(q); err != nil {
			c.Errors[name] = classify(err)
			return
		}
		*ok = true
		_ = h.QdiscDel(q)
	}
	try("netem", netlink.NewNetem(root, netlink.NetemQdiscAttrs{Latency: 1000}), &c.Netem)
	try("tbf", &netlink.Tbf{QdiscAttrs: root, Rate: 125000, Limit: 10000, Buffer: netlink.Xmittime(125000, 10000)}, &c.TBF)
	try("htb", netlink.NewHtb(root), &c.HTB)
	try("ingress", &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: idx, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_INGRESS}}, &c.Ingress)

	conn, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		c.Errors["nftables"] = err.Error()
		return c, nil
	}
	tbl := conn.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: TablePrefix + "probe"})
	if err := conn.Flush(); err != nil {
		c.Errors["nftables"] = classify(err)
		return c, nil
	}
	c.Nftables = true
	ch := conn.AddChain(&nftables.Chain{Name: "out", Table: tbl, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter})
	conn.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: randomDrop(5000)})
	if err := conn.Flush(); err != nil {
		c.Errors["nft_numgen"] = classify(err)
	} else {
		c.NftNumgen = true
	}
	conn.DelTable(tbl)
	_ = conn.Flush()
	return c, nil
}

// classify names a kernel error by errno.
func classify(err error) string {
	switch {
	case errors.Is(err, unix.ENOENT):
		return "kernel lacks the module (ENOENT): " + err.Error()
	case errors.Is(err, unix.EOPNOTSUPP):
		return "not supported (EOPNOTSUPP): " + err.Error()
	case errors.Is(err, unix.EPERM):
		return "not permitted (EPERM): " + err.Error()
	case errors.Is(err, unix.EINVAL):
		return "invalid (EINVAL): " + err.Error()
	}
	return err.Error()
}

// lossScale is the modulus of the numgen used for random loss: 0.01 % steps.
const lossScale = 10000

// randomDrop drops packets whose `numgen random mod 10000` is below
// threshold. Equivalent to: nft add rule ... numgen random mod 10000 < N drop
func randomDrop(threshold uint32) []expr.Any {
	return []expr.Any{
		&expr.Numgen{Register: 1, Modulus: lossScale, Type: unix.NFT_NG_RANDOM},
		// numgen is host byte order; cmp lt compares big-endian bytes.
		&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: be32(threshold)},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}

func be32(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }
