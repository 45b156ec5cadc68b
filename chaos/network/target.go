// Package network injects network faults inside a target's network
// namespace: netem delay/loss/duplicate/corrupt/reorder where the kernel has
// sch_netem, tbf bandwidth, link down, and nftables drops (numgen random for
// loss) which work without netem. When netem is missing, latency falls back
// to the Toxiproxy placed in front of the service. Every fault says which
// mechanism it used (Mechanism()).
package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/hostcaps"
	"github.com/aiuptime/aiuptime/internal/procfs"
	"github.com/aiuptime/aiuptime/stack"
)

// Mechanisms a network fault can use.
const (
	MechNetem     = "netem"
	MechTBF       = "tbf"
	MechNftables  = "nftables"
	MechToxiproxy = "toxiproxy"
	MechLinkDown  = "linkdown"
)

// TablePrefix starts the name of every nftables table we create; doctor
// looks for it.
const TablePrefix = hostcaps.TablePrefix

// ToxicPrefix starts the name of every toxic we add to a Toxiproxy.
const ToxicPrefix = "aiuptime-"

// Target is where a network fault acts.
type Target struct {
	// Service is the service name (for journal and logs).
	Service string `json:"service"`
	// PID is a host pid inside the target's network namespace (the
	// container's main process); 0 when NetNS is a persistent path.
	PID int `json:"pid,omitempty"`
	// PIDStart is PID's start time (clock ticks), to detect a recycled pid.
	PIDStart uint64 `json:"pid_start,omitempty"`
	// NetNS is the namespace path; default /proc/PID/ns/net.
	NetNS string `json:"netns"`
	// Proxy is the Toxiproxy in front of the service, for the latency fallback.
	Proxy *stack.Proxy `json:"proxy,omitempty"`
	// PeerIPs restricts loss/partition to traffic to and from these addresses.
	PeerIPs []net.IP `json:"peer_ips,omitempty"`
}

// targetOf asks the stack for the service's network namespace and fault
// proxy. needNS says whether the fault acts inside the namespace (a
// Toxiproxy latency needs only the proxy).
func targetOf(ctx context.Context, st stack.Stack, service string, needNS bool) (Target, error) {
	nw, ok := st.(stack.Networker)
	if !ok {
		return Target{}, fmt.Errorf("%s: %w", service, chaos.ErrUnsupported)
	}
	t := Target{Service: service}
	p, err := nw.FaultProxy(ctx, service)
	if err != nil {
		return t, err
	}
	t.Proxy = p
	if !needNS {
		return t, nil
	}
	ns, err := nw.NetNS(ctx, service)
	if err != nil {
		return t, err
	}
	t.NetNS, t.PID, t.PIDStart = ns.Path, ns.PID, ns.PIDStart
	return t.resolve()
}

func (t Target) resolve() (Target, error) {
	if t.NetNS == "" {
		if t.PID <= 0 {
			return t, errors.New("network target: neither netns path nor pid")
		}
		t.NetNS = procfs.NSPath(t.PID, "net")
	}
	if t.PID > 0 && t.PIDStart == 0 {
		st, err := procfs.StartTime(t.PID)
		if err != nil {
			return t, fmt.Errorf("network target %s: pid %d: %w", t.Service, t.PID, err)
		}
		t.PIDStart = st
	}
	if err := procfs.CheckNotHost(t.NetNS, "net"); err != nil {
		return t, fmt.Errorf("network target %s: %w", t.Service, err)
	}
	return t, nil
}

// gone reports whether the target's namespace no longer exists (the
// container exited), which makes any fault inside it already reverted.
func (t Target) gone() bool {
	if t.PID > 0 && !procfs.Alive(t.PID, t.PIDStart) {
		return true
	}
	_, err := os.Stat(t.NetNS)
	return errors.Is(err, os.ErrNotExist)
}

// open returns a netlink handle and the namespace fd; close both.
func (t Target) open() (*netlink.Handle, netns.NsHandle, error) {
	if err := procfs.CheckNotHost(t.NetNS, "net"); err != nil {
		return nil, -1, err
	}
	ns, err := netns.GetFromPath(t.NetNS)
	if err != nil {
		return nil, -1, fmt.Errorf("open netns %s: %w", t.NetNS, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, -1, fmt.Errorf("netlink in %s: %w", t.NetNS, err)
	}
	return h, ns, nil
}

// Link is one interface in the target namespace.
type Link struct {
	Index int    `json:"index"`
	Name  string `json:"name"`
}

// ifaces lists the target's non-loopback interfaces (never a hard-coded eth0).
func ifaces(h *netlink.Handle) ([]Link, error) {
	ls, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var out []Link
	for _, l := range ls {
		a := l.Attrs()
		if a.Flags&net.FlagLoopback != 0 || a.Name == "lo" {
			continue
		}
		out = append(out, Link{Index: a.Index, Name: a.Name})
	}
	if len(out) == 0 {
		return nil, errors.New("no non-loopback interface in the target namespace")
	}
	return out, nil
}

// openLinks opens the target's namespace and lists its non-loopback
// interfaces, for a fault of kind; done closes the handle and namespace.
func (t Target) openLinks(kind string) (h *netlink.Handle, links []Link, done func(), err error) {
	h, ns, err := t.open()
	if err != nil {
		return nil, nil, nil, err
	}
	done = func() { h.Close(); ns.Close() }
	if links, err = ifaces(h); err != nil {
		done()
		return nil, nil, nil, fmt.Errorf("%s on %s: %w", kind, t.Service, err)
	}
	return h, links, done, nil
}

// eachLink calls fn for every link of ls still in h's namespace (a link
// that is gone took its state with it) and joins fn's errors.
func eachLink(h *netlink.Handle, ls []Link, fn func(l Link, link netlink.Link) error) error {
	var errs []error
	for _, l := range ls {
		link, err := h.LinkByIndex(l.Index)
		if err != nil {
			continue
		}
		errs = append(errs, fn(l, link))
	}
	return errors.Join(errs...)
}

// goneErr reports kernel errors meaning "already not there".
func goneErr(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ESRCH)
}

// revertIn runs a revert inside the target's network namespace with a
// netlink handle. A target that is gone (its container or namespace no
// longer exists) took the fault with it: that is success.
func (t Target) revertIn(fn func(h *netlink.Handle) error) error {
	if t.gone() {
		return nil
	}
	h, ns, err := t.open()
	if err != nil {
		if t.gone() {
			return nil
		}
		return err
	}
	defer ns.Close()
	defer h.Close()
	return fn(h)
}
