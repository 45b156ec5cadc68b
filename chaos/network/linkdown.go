package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/chaos"
)

// routeState is a route saved before link down (the kernel drops routes
// through a downed link; they must be put back).
type routeState struct {
	LinkIndex int    `json:"link_index"`
	Dst       string `json:"dst,omitempty"`
	Gw        string `json:"gw,omitempty"`
	Src       string `json:"src,omitempty"`
	Scope     uint8  `json:"scope"`
	Protocol  int    `json:"protocol"`
	Table     int    `json:"table"`
	Priority  int    `json:"priority"`
	Family    int    `json:"family"`
}

type linkDownState struct {
	Target Target       `json:"target"`
	Links  []Link       `json:"links"`
	Routes []routeState `json:"routes"`
}

func init() { chaos.RegisterStateReverter("network/linkdown", revertLinkDown) }

func revertLinkDown(ctx context.Context, st linkDownState) error {
	return st.Target.revertIn(func(h *netlink.Handle) error {
		up := eachLink(h, st.Links, func(l Link, link netlink.Link) error {
			if err := h.LinkSetUp(link); err != nil {
				return fmt.Errorf("set %s up: %w", l.Name, err)
			}
			return awaitOperUp(ctx, h, l)
		})
		return errors.Join(up, restoreRoutes(h, st.Routes))
	})
}

// operUpWait bounds the wait for a link set up to carry traffic again.
const operUpWait = 5 * time.Second

// awaitOperUp waits until a link set up is operationally up: the kernel
// activates its queueing discipline from the link-watch work queue, which
// may run up to a second later on a busy machine, and until then every
// packet is dropped. A revert is done when traffic flows, not before.
// Links without carrier reporting (operstate unknown) count as up.
func awaitOperUp(ctx context.Context, h *netlink.Handle, l Link) error {
	ctx, cancel := context.WithTimeout(ctx, operUpWait)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		link, err := h.LinkByIndex(l.Index)
		if err != nil {
			return nil // gone with its namespace: nothing left to wait for
		}
		if s := link.Attrs().OperState; s == netlink.OperUp || s == netlink.OperUnknown {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("set %s up: not operationally up after %v (operstate %s)", l.Name, operUpWait, link.Attrs().OperState)
		case <-tick.C:
		}
	}
}

// restoreRoutes puts saved routes back, link-scope routes first, so
// gateways are reachable when default routes return.
func restoreRoutes(h *netlink.Handle, saved []routeState) error {
	rs := append([]routeState(nil), saved...)
	sort.SliceStable(rs, func(a, b int) bool { return rs[a].Scope > rs[b].Scope })
	var errs []error
	for _, r := range rs {
		route := &netlink.Route{LinkIndex: r.LinkIndex, Scope: netlink.Scope(r.Scope), Protocol: netlink.RouteProtocol(r.Protocol), Table: r.Table, Priority: r.Priority, Family: r.Family}
		if r.Dst != "" {
			_, dst, err := net.ParseCIDR(r.Dst)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			route.Dst = dst
		}
		route.Gw = net.ParseIP(r.Gw)
		route.Src = net.ParseIP(r.Src)
		if err := h.RouteReplace(route); err != nil && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, fmt.Errorf("restore route %+v: %w", r, err))
		}
	}
	return errors.Join(errs...)
}

// applyLinkDown saves routes, journals, then sets every non-loopback link down.
// Equivalent to: ip netns exec NS ip link set IF down
func applyLinkDown(ctx context.Context, d chaos.Deps, kind string, t Target) (chaos.Revert, error) {
	h, links, done, err := t.openLinks(kind)
	if err != nil {
		return chaos.NoRevert, err
	}
	defer done()
	// Only links that are up are ours to take down (and to set up again on
	// revert): one already down may be another drill's partition.
	links, err = upLinks(h, links)
	if err != nil {
		return chaos.NoRevert, err
	}
	if len(links) == 0 {
		return chaos.NoRevert, fmt.Errorf("%s on %s: every interface is already down (another fault in force?): %w", kind, t.Service, ErrBusy)
	}
	st := linkDownState{Target: t, Links: links}
	for _, l := range links {
		link, err := h.LinkByIndex(l.Index)
		if err != nil {
			return chaos.NoRevert, err
		}
		routes, err := h.RouteList(link, netlink.FAMILY_ALL)
		if err != nil {
			return chaos.NoRevert, fmt.Errorf("list routes of %s: %w", l.Name, err)
		}
		for _, r := range routes {
			if r.Family == netlink.FAMILY_V6 && r.Dst != nil && r.Dst.IP.IsLinkLocalUnicast() {
				continue
			}
			rs := routeState{LinkIndex: r.LinkIndex, Scope: uint8(r.Scope), Protocol: int(r.Protocol), Table: r.Table, Priority: r.Priority, Family: r.Family}
			if r.Dst != nil {
				rs.Dst = r.Dst.String()
			}
			if r.Gw != nil {
				rs.Gw = r.Gw.String()
			}
			if r.Src != nil {
				rs.Src = r.Src.String()
			}
			st.Routes = append(st.Routes, rs)
		}
	}
	rec := chaos.Record{Kind: kind, Target: t.Service, Reverter: "network/linkdown", Mechanism: MechLinkDown}
	rev, _, err := chaos.Apply(ctx, d, rec, st, func(context.Context) error {
		for _, l := range links {
			link, err := h.LinkByIndex(l.Index)
			if err != nil {
				return err
			}
			if err := h.LinkSetDown(link); err != nil {
				return fmt.Errorf("set %s down: %w", l.Name, err)
			}
		}
		return nil
	})
	return rev, err
}

// upLinks keeps the links of ls that are up.
func upLinks(h *netlink.Handle, ls []Link) ([]Link, error) {
	var out []Link
	for _, l := range ls {
		link, err := h.LinkByIndex(l.Index)
		if err != nil {
			return nil, fmt.Errorf("link %s: %w", l.Name, err)
		}
		if link.Attrs().Flags&net.FlagUp != 0 {
			out = append(out, l)
		}
	}
	return out, nil
}
