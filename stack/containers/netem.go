package containers

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ProbeNetem reports whether the kernel accepts a netem qdisc, by adding one
// on the loopback device of a scratch network namespace created for the
// probe and dropped with it. It never touches the host's interfaces.
// Equivalent to:
//
//	ip netns add scratch
//	ip -n scratch link set lo up
//	tc -n scratch qdisc add dev lo root handle 1: netem delay 1ms
//	ip netns del scratch
//
// detail says why netem is unavailable ("" when it is available).
func ProbeNetem() (ok bool, detail string) {
	type result struct {
		ok     bool
		detail string
	}
	ch := make(chan result, 1)
	go func() {
		// This goroutine's thread changes network namespace: it stays
		// locked, so the runtime discards the thread when it exits.
		runtime.LockOSThread()
		ok, detail := probeNetemLocked()
		ch <- result{ok, detail}
	}()
	r := <-ch
	return r.ok, r.detail
}

func probeNetemLocked() (bool, string) {
	orig, err := netns.Get()
	if err != nil {
		return false, fmt.Sprintf("probe not run: current netns: %v", err)
	}
	defer orig.Close()
	scratch, err := netns.New() // also moves this thread into it
	if err != nil {
		return false, fmt.Sprintf("probe not run: new netns: %v", err)
	}
	defer scratch.Close() // the namespace goes with its last reference
	h, err := netlink.NewHandleAt(scratch)
	if err != nil {
		return false, fmt.Sprintf("probe not run: netlink handle: %v", err)
	}
	defer h.Close()
	if err := netns.Set(orig); err != nil {
		return false, fmt.Sprintf("probe not run: restore netns: %v", err)
	}
	lo, err := h.LinkByName("lo")
	if err != nil {
		return false, fmt.Sprintf("probe not run: scratch lo: %v", err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return false, fmt.Sprintf("probe not run: scratch lo up: %v", err)
	}
	q := netlink.NewNetem(netlink.QdiscAttrs{
		LinkIndex: lo.Attrs().Index,
		Handle:    netlink.MakeHandle(1, 0),
		Parent:    netlink.HANDLE_ROOT,
	}, netlink.NetemQdiscAttrs{Latency: 1000})
	if err := h.QdiscAdd(q); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, "kernel has no sch_netem (qdisc kind unknown)"
		}
		return false, fmt.Sprintf("netem qdisc refused: %v", err)
	}
	return true, ""
}
