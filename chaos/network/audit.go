package network

import (
	"context"
	"fmt"
	"strings"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
	"github.com/vishvananda/netlink"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/stack"
)

// audit reports what a network fault may have left on a service: root
// qdiscs that are not the kernel's defaults, links that are down, our
// nftables tables in its namespace, and our toxics on its fault proxy.
func audit(ctx context.Context, env chaos.Env, svc stack.Service) []chaos.Finding {
	nw := env.Stack.(stack.Networker)
	var fs []chaos.Finding
	if p, err := nw.FaultProxy(ctx, svc.Name); err == nil && p != nil {
		fs = append(fs, auditToxics(svc.Name, p)...)
	}
	ns, err := nw.NetNS(ctx, svc.Name)
	if err != nil {
		return fs // not running, or not in a namespace of its own: nothing to look at
	}
	t := Target{Service: svc.Name, NetNS: ns.Path, PID: ns.PID, PIDStart: ns.PIDStart}
	if ts, err := Tables(ns.Path); err == nil {
		for _, tb := range ts {
			fs = append(fs, chaos.Finding{What: "nftables", Where: svc.Name, Detail: "table inet " + tb})
		}
	}
	h, nsh, err := t.open()
	if err != nil {
		return append(fs, chaos.Finding{What: "inspect-error", Where: svc.Name, Detail: err.Error()})
	}
	defer nsh.Close()
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return fs
	}
	for _, l := range links {
		fs = append(fs, auditLink(h, svc.Name, l)...)
	}
	return fs
}

func auditLink(h *netlink.Handle, service string, l netlink.Link) []chaos.Finding {
	a := l.Attrs()
	if a.Name == "lo" {
		return nil
	}
	var fs []chaos.Finding
	if a.Flags&1 == 0 { // IFF_UP
		fs = append(fs, chaos.Finding{What: "link-down", Where: service, Detail: a.Name + " is down"})
	}
	qs, err := h.QdiscList(l)
	if err != nil {
		return fs
	}
	for _, q := range qs {
		qa := q.Attrs()
		if qa.Parent != netlink.HANDLE_ROOT {
			continue
		}
		switch q.Type() {
		case "noqueue", "pfifo_fast", "fq_codel", "mq":
			continue
		}
		fs = append(fs, chaos.Finding{What: "qdisc", Where: service, Detail: fmt.Sprintf("%s root %s on %s", q.Type(), netlink.HandleStr(qa.Handle), a.Name)})
	}
	return fs
}

// auditToxics lists our toxics on the service's proxy.
func auditToxics(service string, p *stack.Proxy) []chaos.Finding {
	px, err := toxiproxy.NewClient(p.APIURL).Proxy(p.Name)
	if err != nil {
		return []chaos.Finding{{What: "inspect-error", Where: service, Detail: "toxiproxy: " + err.Error()}}
	}
	ts, err := px.Toxics()
	if err != nil {
		return nil
	}
	var fs []chaos.Finding
	for _, t := range ts {
		if strings.HasPrefix(t.Name, ToxicPrefix) {
			fs = append(fs, chaos.Finding{What: "toxic", Where: service + "/" + p.Name, Detail: fmt.Sprintf("%s %s (%s)", t.Type, t.Name, t.Stream)})
		}
	}
	return fs
}
