package local

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// WaitServiceRouted waits until the real node's kube-proxy has programmed
// the Service at ip:port with endpoints: the nat table's KUBE-SERVICES
// chain has the rule that sends the ClusterIP and port to the Service's
// KUBE-SVC- chain.
//
// Send nothing to a ClusterIP before that: until kube-proxy programs it,
// the address is not this host's, and a packet to it follows the default
// route off the machine. On a network that intercepts such traffic, a
// foreign server may even answer (an egress proxy answering 404), and an
// HTTP client that keeps the connection alive stays on that server after
// the Service's rules appear.
func WaitServiceRouted(ctx context.Context, ip string, port int) error {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return fmt.Errorf("service IP %q: %w", ip, err)
	}
	prog := "iptables-save"
	if addr.Is6() {
		prog = "ip6tables-save"
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		out, err := exec.CommandContext(ctx, prog, "-t", "nat").Output()
		if err == nil && serviceRouted(out, addr, port) {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("kube-proxy rules for %s: %w (last %s: %v)", netip.AddrPortFrom(addr, uint16(port)), ctx.Err(), prog, err)
			}
			return fmt.Errorf("kube-proxy rules for %s: %w", netip.AddrPortFrom(addr, uint16(port)), ctx.Err())
		case <-tick.C:
		}
	}
}

// serviceRouted reports whether the nat table (iptables-save output) has a
// KUBE-SERVICES rule matching destination addr and TCP port that jumps to a
// KUBE-SVC- chain (kube-proxy writes that rule only while the Service has
// ready endpoints).
func serviceRouted(natTable []byte, addr netip.Addr, port int) bool {
	dst := netip.PrefixFrom(addr, addr.BitLen()).String()
	for _, line := range strings.Split(string(natTable), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "-A" || f[1] != "KUBE-SERVICES" {
			continue
		}
		if flagValue(f, "-d") != dst || flagValue(f, "--dport") != strconv.Itoa(port) {
			continue
		}
		if strings.HasPrefix(flagValue(f, "-j"), "KUBE-SVC-") {
			return true
		}
	}
	return false
}

// flagValue is the word after flag in an iptables-save rule, or "".
func flagValue(fields []string, flag string) string {
	if i := slices.Index(fields, flag); i >= 0 && i+1 < len(fields) {
		return fields[i+1]
	}
	return ""
}
