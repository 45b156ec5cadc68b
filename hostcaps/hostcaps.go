// Package hostcaps probes what this host's kernel allows for network
// faults: the qdiscs netem, tbf, htb and ingress, nftables (with `numgen
// random`), and taking a link down. It probes in a scratch network namespace
// on a veth pair made for the probe, so the host's own interfaces are never
// touched. A run probes once and passes the result down to the stack
// (whether to place a Toxiproxy) and to the faults (which mechanism to use),
// and the report says what was found.
package hostcaps

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// TablePrefix starts the name of every nftables table the harness creates.
const TablePrefix = "aiuptime_"

// Kernel is what the kernel allowed in the probe.
type Kernel struct {
	Netem    bool `json:"netem"`
	TBF      bool `json:"tbf"`
	HTB      bool `json:"htb"`
	Ingress  bool `json:"ingress"`
	Nftables bool `json:"nftables"`
	// NftNumgen is nftables with `numgen random` (random loss without netem).
	NftNumgen bool `json:"nft_numgen"`
	// LinkDown is setting a veth down and up again.
	LinkDown bool `json:"link_down"`
	// Errors says why a capability is missing, by its JSON name.
	Errors map[string]string `json:"errors,omitempty"`
	// Probed is false when the probe could not run at all (not root, no
	// network namespaces); Errors["probe"] says why.
	Probed bool `json:"probed"`
}

// Why returns why capability name is missing ("" when it is not).
func (k Kernel) Why(name string) string {
	if r := k.Errors[name]; r != "" {
		return r
	}
	if !k.Probed {
		return "not probed: " + k.Errors["probe"]
	}
	return ""
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
// in a scratch network namespace and records what the kernel supports. An
// error means the probe could not run; the Kernel it returns then says so.
func Probe(ctx context.Context) (Kernel, error) {
	k := Kernel{Errors: map[string]string{}}
	fail := func(err error) (Kernel, error) {
		k.Errors["probe"] = err.Error()
		return k, fmt.Errorf("kernel capability probe: %w", err)
	}
	ns, err := NewScratchNS()
	if err != nil {
		return fail(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fail(err)
	}
	defer h.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "probe0"}, PeerName: "probe1"}
	if err := h.LinkAdd(veth); err != nil {
		return fail(fmt.Errorf("add veth: %w", err))
	}
	link, err := h.LinkByName("probe0")
	if err != nil {
		return fail(err)
	}
	k.Probed = true
	k.probeLink(h, link)
	k.probeQdiscs(ctx, h, link.Attrs().Index)
	k.probeNftables(ns)
	return k, nil
}

func (k *Kernel) probeLink(h *netlink.Handle, link netlink.Link) {
	for _, step := range []func(netlink.Link) error{h.LinkSetUp, h.LinkSetDown, h.LinkSetUp} {
		if err := step(link); err != nil {
			k.Errors["link_down"] = Classify(err)
			return
		}
	}
	k.LinkDown = true
}

func (k *Kernel) probeQdiscs(ctx context.Context, h *netlink.Handle, idx int) {
	root := netlink.QdiscAttrs{LinkIndex: idx, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT}
	try := func(name string, q netlink.Qdisc, ok *bool) {
		if err := ctx.Err(); err != nil {
			k.Errors[name] = err.Error()
			return
		}
		if err := h.QdiscAdd(q); err != nil {
			k.Errors[name] = Classify(err)
			return
		}
		*ok = true
		_ = h.QdiscDel(q)
	}
	try("netem", netlink.NewNetem(root, netlink.NetemQdiscAttrs{Latency: 1000}), &k.Netem)
	try("tbf", &netlink.Tbf{QdiscAttrs: root, Rate: 125000, Limit: 10000, Buffer: netlink.Xmittime(125000, 10000)}, &k.TBF)
	try("htb", netlink.NewHtb(root), &k.HTB)
	try("ingress", &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: idx, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_INGRESS}}, &k.Ingress)
}

func (k *Kernel) probeNftables(ns netns.NsHandle) {
	conn, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		k.Errors["nftables"] = err.Error()
		return
	}
	tbl := conn.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: TablePrefix + "probe"})
	if err := conn.Flush(); err != nil {
		k.Errors["nftables"] = Classify(err)
		return
	}
	k.Nftables = true
	ch := conn.AddChain(&nftables.Chain{Name: "out", Table: tbl, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter})
	conn.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: RandomDrop(5000)})
	if err := conn.Flush(); err != nil {
		k.Errors["nft_numgen"] = Classify(err)
	} else {
		k.NftNumgen = true
	}
	conn.DelTable(tbl)
	_ = conn.Flush()
}

// Classify names a kernel error by its errno.
func Classify(err error) string {
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

// LossScale is the modulus of the numgen used for random loss: 0.01 % steps.
const LossScale = 10000

// RandomDrop drops packets whose `numgen random mod 10000` is below
// threshold: the rule network-loss uses without netem, and the one the probe
// tries. Equivalent to: nft add rule ... numgen random mod 10000 < N drop
func RandomDrop(threshold uint32) []expr.Any {
	return []expr.Any{
		&expr.Numgen{Register: 1, Modulus: LossScale, Type: unix.NFT_NG_RANDOM},
		// numgen is host byte order; cmp lt compares big-endian bytes.
		&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: []byte{byte(threshold >> 24), byte(threshold >> 16), byte(threshold >> 8), byte(threshold)}},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}
