package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
)

// nodeLeftovers describes what of the real node of the cluster in id.dir
// is on the host: processes (shims, pods), mounts under the state dir,
// the bridge and its veths, cgroups, log links; with global, also the
// iptables chains of any real node (KUBE-*, CNI-*), which are only the
// cluster's when no other real node runs. Empty means nothing.
func nodeLeftovers(id nodeID, global bool) []string {
	var out []string
	for _, s := range shims(id) {
		out = append(out, fmt.Sprintf("process %s (pid %d)", shimBin, s.PID))
	}
	for _, pid := range cgroupPIDs(id) {
		out = append(out, fmt.Sprintf("pod process pid %d", pid))
	}
	if ms, err := mountsUnder(id.dir); err == nil {
		for _, m := range ms {
			out = append(out, "mount "+m)
		}
	}
	if links, err := nodeLinks(id); err == nil {
		for _, l := range links {
			out = append(out, "link "+l.Attrs().Name)
		}
	}
	for _, d := range cgroupDirs(id) {
		out = append(out, "cgroup "+d)
	}
	for _, f := range nodeHostFiles(id, false) {
		out = append(out, "file "+f)
	}
	if global {
		out = append(out, globalLeftovers(id.dir)...)
	}
	return out
}

// globalLeftovers lists the KUBE-* and CNI-* iptables chains when no real
// node (but the one of except, if any) runs to own them.
func globalLeftovers(except string) []string {
	if others, err := nodeProcesses(except); err != nil || len(others) > 0 || nodeBeingRemoved(except) {
		return nil
	}
	found, err := findChains(context.Background())
	if err != nil {
		return nil
	}
	var out []string
	if _, err := os.Lstat(kubeletSocket); err == nil {
		out = append(out, "file "+kubeletSocket)
	}
	for key, cs := range found {
		for _, c := range cs.chains {
			out = append(out, fmt.Sprintf("%s chain %s/%s", key[0], key[1], c))
		}
		if len(cs.chains) == 0 && len(cs.jumps) > 0 {
			out = append(out, fmt.Sprintf("%s table %s: %d jump(s) to KUBE-/CNI- chains", key[0], key[1], len(cs.jumps)))
		}
	}
	slices.Sort(out)
	return out
}

// nodeBeingRemoved says whether a real node other than except's still has
// its bridge and state dir: one that Down is taking apart (its kube-proxy
// stopped, its chains not yet deleted), whose chains are its own.
func nodeBeingRemoved(except string) bool {
	links, _ := netlink.LinkList()
	for _, l := range links {
		dir := l.Attrs().Alias
		if !strings.HasPrefix(l.Attrs().Name, bridgePrefix) || dir == "" || (except != "" && idOf(dir).hash == idOf(except).hash) {
			continue
		}
		if _, err := os.Lstat(filepath.Join(dir, StateFile)); err == nil {
			return true
		}
	}
	return false
}

// liveNodeDirs are the state dirs of the running kubelets of real nodes
// (from their --root-dir, <dir>/node/kubelet/root).
func liveNodeDirs() []string {
	procs, _ := nodeProcesses("")
	var out []string
	for _, p := range procs {
		for _, a := range p.Args {
			if root, ok := strings.CutPrefix(a, "--root-dir="); ok {
				out = append(out, filepath.Dir(filepath.Dir(filepath.Dir(root))))
			}
		}
	}
	return out
}

// orphanNodes finds real-node host resources whose state dir is gone:
// bridges named aiuk-* (their alias is the state dir) and cgroup roots
// aiuptime-kube-* that no state dir in known accounts for. Each is
// returned as an Audit with the dir when it is known (Down on it removes
// them), else the resource's path (Down refuses it: remove by hand).
func orphanNodes(known []string) []Audit {
	hashes := map[string]bool{}
	for _, d := range append(known, liveNodeDirs()...) {
		hashes[idOf(d).hash] = true
	}
	var out []Audit
	seen := map[string]bool{}
	links, _ := netlink.LinkList()
	for _, l := range links {
		name := l.Attrs().Name
		hash, ok := strings.CutPrefix(name, bridgePrefix)
		if !ok || l.Type() != "bridge" || hashes[hash] {
			continue
		}
		dir := l.Attrs().Alias
		if dir == "" || idOf(dir).hash != hash {
			dir = "/sys/class/net/" + name
		} else if _, err := os.Lstat(dir); err == nil {
			continue // its state dir is there (a cluster under another root): audited with it
		}
		seen[hash] = true
		out = append(out, Audit{Name: filepath.Base(dir), Dir: dir, Leftover: true,
			Detail: fmt.Sprintf("real node bridge %s of a removed state dir: %s", name, summarize(nodeLeftovers(idOf(dir), false)))})
	}
	hs, _ := cgroupHierarchies()
	for _, h := range hs {
		ents, _ := os.ReadDir(h)
		for _, e := range ents {
			hash, ok := strings.CutPrefix(e.Name(), cgroupPrefix)
			if !ok || !e.IsDir() || hashes[hash] || seen[hash] {
				continue
			}
			seen[hash] = true
			p := filepath.Join(h, e.Name())
			out = append(out, Audit{Name: e.Name(), Dir: p, Leftover: true,
				Detail: fmt.Sprintf("real node cgroup %s of an unknown state dir: kill its processes and rmdir it (deepest first) in every hierarchy", p)})
		}
	}
	if g := globalLeftovers(""); len(g) > 0 {
		out = append(out, Audit{Name: "iptables", Dir: "/proc/net/ip_tables_names", Leftover: true,
			Detail: fmt.Sprintf("no real node runs, yet %d KUBE-/CNI- iptables chain(s) remain: %s; `drill cleanup` of the cluster that made them, or iptables -F/-X by hand", len(g), strings.Join(g, ", "))})
	}
	return out
}
