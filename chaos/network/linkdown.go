package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"

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

func init() { chaos.RegisterReverter("network/linkdown", revertLinkDown) }

func revertLinkDown(_ context.Context, rec chaos.Record) error {
	var st linkDownState
	if err := json.Unmarshal(rec.State, &st); err != nil {
		return fmt.Errorf("decode linkdown state: %w", err)
	}
	return st.Target.revertIn(func(h *netlink.Handle) error {
		var errs []error
		for _, l := range st.Links {
			link, err := h.LinkByIndex(l.Index)
			if err != nil {
				continue
			}
			if err := h.LinkSetUp(link); err != nil {
				errs = append(errs, fmt.Errorf("set %s up: %w", l.Name, err))
			}
		}
		// Link-scope routes first, so gateways are reachable when default routes return.
		rs := append([]routeState(nil), st.Routes...)
		sort.SliceStable(rs, func(a, b int) bool { return rs[a].Scope > rs[b].Scope })
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
	})
}

// applyLinkDown saves routes, journals, then sets every non-loopback link down.
// Equivalent to: ip netns exec NS ip link set IF down
func applyLinkDown(ctx context.Context, d chaos.Deps, kind string, t Target) (chaos.Revert, error) {
	h, ns, err := t.open()
	if err != nil {
		return chaos.NoRevert, err
	}
	defer ns.Close()
	defer h.Close()
	links, err := ifaces(h)
	if err != nil {
		return chaos.NoRevert, fmt.Errorf("%s on %s: %w", kind, t.Service, err)
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
