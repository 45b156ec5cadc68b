package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/internal/procfs"
)

// podKillWait bounds how long cleanNode waits for SIGKILLed pods and shims.
const podKillWait = 15 * time.Second

// cleanNode removes what the real node of the cluster in id.dir added to
// the host, after its kubelet, kube-proxy and containerd were stopped:
// the shims and the pods' processes, the mounts under the state dir, the
// bridge and its veths, the kubepods cgroups, the kubelet's log links and
// the containerd shim sockets; the global iptables chains (KUBE-*, CNI-*)
// and changed sysctls only when no other real node runs (checked and done
// under the start lock). n (nil when the
// state file is lost) gives the sysctls to restore.
func cleanNode(ctx context.Context, log *slog.Logger, id nodeID, n *NodeState) error {
	var errs []error
	if err := killPods(ctx, id); err != nil {
		errs = append(errs, err)
	}
	if done, err := unmountUnder(id.dir); err != nil {
		errs = append(errs, err)
	} else if len(done) > 0 {
		log.Info("unmounted", "mounts", len(done))
	}
	if err := deleteBridge(id); err != nil {
		errs = append(errs, err)
	}
	if err := removeCgroups(id); err != nil {
		errs = append(errs, err)
	}
	// The host-wide part (iptables chains, sysctls, fixed-path files) is
	// removed only when no other real node runs, and under the start
	// lock: a node starting between the check and the removal would lose
	// the chains its kube-proxy just wrote.
	locked := holdsNodeLock(ctx)
	if !locked {
		unlock, err := lockNodeStart(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("host-wide cleanup skipped: %w", err))
		} else {
			defer unlock()
			locked = true
		}
	}
	others, err := nodeProcesses(id.dir)
	if err != nil {
		errs = append(errs, err)
	}
	if !locked {
		others = append(others, Process{Name: "a node start holding the lock"})
	}
	removeHostFiles(id, n, len(others) == 0)
	if len(others) == 0 {
		if chains, err := deleteChains(ctx); err != nil {
			errs = append(errs, err)
		} else if len(chains) > 0 {
			log.Info("deleted iptables chains", "chains", len(chains))
		}
		before, after := keptSysctls(), kubeletSysctls
		if n != nil && n.SysctlsBefore != nil {
			before = n.SysctlsBefore
		}
		if n != nil && n.SysctlsAfter != nil {
			after = n.SysctlsAfter
		}
		restored, err := restoreSysctls(before, after)
		if err != nil {
			errs = append(errs, err)
		} else {
			_ = os.Remove(sysctlFile) // the last node is gone: the host has its own values
		}
		if len(restored) > 0 {
			log.Info("restored sysctls", "sysctls", restored)
		}
	} else {
		log.Info("another real node runs: iptables chains and sysctls left to it", "pid", others[0].PID)
	}
	return errors.Join(errs...)
}

// killPods SIGKILLs the containerd shims of the cluster (a command line
// naming its containerd socket) and every process in its cgroups (the
// pods' containers and sandboxes), until none is left.
func killPods(ctx context.Context, id nodeID) error {
	kill := func() []int {
		pids := shimPIDs(id)
		pids = append(pids, cgroupPIDs(id)...)
		for _, pid := range pids {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
		return pids
	}
	kill()
	err := poll(ctx, podKillWait, func() error {
		if left := kill(); len(left) > 0 {
			return fmt.Errorf("pod processes still running: %v", left)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("kill pods of %s: %w", id.dir, err)
	}
	return nil
}

// shimPIDs lists the live containerd shims started by the cluster's
// containerd: containerd-shim-runc-v2 with -address naming its socket.
func shimPIDs(id nodeID) []int {
	var out []int
	for _, p := range shims(id) {
		out = append(out, p.PID)
	}
	return out
}

// shim is one containerd shim of the cluster.
type shim struct {
	PID     int
	Address string // its containerd's socket (-address)
}

// shims lists the live shims whose containerd is the cluster's: their
// -address is its socket.
func shims(id nodeID) []shim {
	ents, _ := os.ReadDir("/proc")
	var out []shim
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		args, err := cmdline(pid)
		if err != nil || len(args) == 0 || filepath.Base(args[0]) != shimBin {
			continue
		}
		s := shim{PID: pid}
		if i := slices.Index(args, "-address"); i > 0 && i+1 < len(args) {
			s.Address = args[i+1]
		}
		if s.Address == id.socket() {
			if st, err := procfs.StartTime(pid); err == nil && procfs.Alive(pid, st) {
				out = append(out, s)
			}
		}
	}
	return out
}

// cgroupDirs lists the cluster's cgroup directories in every hierarchy,
// deepest first.
func cgroupDirs(id nodeID) []string {
	hs, _ := cgroupHierarchies()
	var out []string
	for _, h := range hs {
		root := filepath.Join(h, id.cgroupRoot())
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				out = append(out, p)
			}
			return nil
		})
	}
	slices.SortFunc(out, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return out
}

// cgroupPIDs lists the live processes in the cluster's cgroups.
func cgroupPIDs(id nodeID) []int {
	var out []int
	for _, d := range cgroupDirs(id) {
		b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && !slices.Contains(out, pid) && pid != os.Getpid() {
				out = append(out, pid)
			}
		}
	}
	return out
}

// removeCgroups removes the cluster's cgroup directories, the pods'
// first (a cgroup must be empty of tasks and children to go).
//
// Equivalent to: rmdir /sys/fs/cgroup/*/aiuptime-kube-HASH/**, deepest first.
func removeCgroups(id nodeID) error {
	var errs []error
	for _, d := range cgroupDirs(id) {
		if err := unix.Rmdir(d); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

// nodeLinks lists the cluster's bridge and the links attached to it (the
// host ends of the pods' veths).
func nodeLinks(id nodeID) ([]netlink.Link, error) {
	br, err := netlink.LinkByName(id.bridge())
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find bridge %s: %w", id.bridge(), err)
	}
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var out []netlink.Link
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			out = append(out, l)
		}
	}
	return append(out, br), nil
}

// deleteBridge deletes the veths attached to the cluster's bridge, then
// the bridge.
//
// Equivalent to: ip link del VETH (each); ip link del aiuk-HASH.
func deleteBridge(id nodeID) error {
	links, err := nodeLinks(id)
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range links {
		if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("delete link %s: %w", l.Attrs().Name, err))
		}
	}
	return errors.Join(errs...)
}

// shimSocketDir is where containerd 1.6 puts its shims' sockets, whatever
// its state dir: a file named by sha256(address/namespace/id).
const shimSocketDir = "/run/containerd/s"

// hostDirs are the directories outside the state dir that the node's
// programs make whatever their configuration, deepest first: the
// kubelet's device-plugin socket dir (a fixed path), its container log
// links, util-linux mount's utab dir, libcni's result cache, the shims'
// socket dir of containerd 1.6.
var hostDirs = []string{
	"/var/lib/kubelet/device-plugins", "/var/lib/kubelet", containerLogsDir, "/run/mount",
	"/var/lib/cni/results", "/var/lib/cni", shimSocketDir, filepath.Dir(shimSocketDir),
}

// kubeletSocket is the kubelet's device-plugin registration socket.
const kubeletSocket = "/var/lib/kubelet/device-plugins/kubelet.sock"

// cniResultsDir is libcni's cache of ADD results, named
// NETWORK-CONTAINERID-IFNAME; containerd's CRI also caches its loopback
// network there as cni-loopback-SANDBOXID-lo.
const cniResultsDir = "/var/lib/cni/results"

// removeHostFiles removes the files the node leaves outside its state dir:
// the kubelet's links in /var/log/containers, the sockets of the shims,
// libcni's cached results of the pods, the kubelet's device-plugin socket
// when no other kubelet runs (lastNode); then the host dirs the node made
// (when empty).
func removeHostFiles(id nodeID, n *NodeState, lastNode bool) {
	for _, p := range nodeHostFiles(id, lastNode) {
		_ = os.Remove(p)
	}
	if n == nil {
		return
	}
	if n.HadContainerLogsDir {
		_ = os.Chmod(containerLogsDir, n.ContainerLogsDirMode)
	}
	for _, d := range hostDirs {
		if slices.Contains(n.CreatedDirs, d) {
			_ = unix.Rmdir(d) // only when empty
		}
	}
}

// nodeHostFiles lists the files of the node outside its state dir that
// exist: see removeHostFiles.
func nodeHostFiles(id nodeID, lastNode bool) []string {
	var out []string
	prefix := id.dir + string(filepath.Separator)
	if ents, err := os.ReadDir(containerLogsDir); err == nil {
		for _, e := range ents {
			p := filepath.Join(containerLogsDir, e.Name())
			if t, err := os.Readlink(p); err == nil && strings.HasPrefix(t, prefix) {
				out = append(out, p)
			}
		}
	}
	out = append(out, shimSockets(id)...)
	results, _ := filepath.Glob(filepath.Join(cniResultsDir, id.network()+"-*"))
	out = append(out, results...)
	for _, sb := range taskIDs(id) {
		p := filepath.Join(cniResultsDir, "cni-loopback-"+sb+"-lo")
		if _, err := os.Lstat(p); err == nil {
			out = append(out, p)
		}
	}
	if _, err := os.Lstat(kubeletSocket); err == nil && lastNode {
		out = append(out, kubeletSocket)
	}
	return out
}

// taskIDs lists the ids of the containers and sandboxes the node's
// containerd has bundles for.
func taskIDs(id nodeID) []string {
	var out []string
	bundles, _ := filepath.Glob(id.path("containerd", "state", "io.containerd.runtime.v2.task", "*", "*"))
	for _, b := range bundles {
		out = append(out, filepath.Base(b))
	}
	return out
}

// shimSockets lists the shim sockets of the cluster's containers that
// exist: for each shim bundle under containerd's state dir.
func shimSockets(id nodeID) []string {
	var out []string
	bundles, _ := filepath.Glob(id.path("containerd", "state", "io.containerd.runtime.v2.task", "*", "*"))
	for _, b := range bundles {
		ns, cid := filepath.Base(filepath.Dir(b)), filepath.Base(b)
		sum := sha256.Sum256([]byte(filepath.Join(id.socket(), ns, cid)))
		p := filepath.Join(shimSocketDir, hex.EncodeToString(sum[:]))
		if _, err := os.Lstat(p); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// chainPrefixes are the iptables chains kube-proxy, the kubelet and the CNI
// plugins create; nothing else on a host is expected to use them (Docker's
// are DOCKER*).
var chainPrefixes = []string{"KUBE-", "CNI-"}

func ourChain(name string) bool {
	return slices.ContainsFunc(chainPrefixes, func(p string) bool { return strings.HasPrefix(name, p) })
}

// iptablesTables are the tables kube-proxy and the CNI plugins write.
var iptablesTables = []string{"filter", "nat", "mangle"}

// findChains returns, per (command, table), the rules of other chains
// that jump to our chains and our chains, from `iptables-save -t TABLE`
// (and ip6tables-save).
func findChains(ctx context.Context) (map[[2]string]chainSet, error) {
	out := map[[2]string]chainSet{}
	for _, prog := range []string{"iptables", "ip6tables"} {
		if _, err := exec.LookPath(prog + "-save"); err != nil {
			continue
		}
		for _, table := range iptablesTables {
			b, err := exec.CommandContext(ctx, prog+"-save", "-t", table).Output()
			if err != nil {
				continue // table or family not there
			}
			if cs := parseChains(b); len(cs.chains) > 0 || len(cs.jumps) > 0 {
				out[[2]string{prog, table}] = cs
			}
		}
	}
	return out, nil
}

// chainSet is what one table holds of ours.
type chainSet struct {
	chains []string // our chains
	jumps  []string // "-A CHAIN ..." rules of other chains that jump to ours
}

// parseChains reads iptables-save output.
func parseChains(b []byte) chainSet {
	var cs chainSet
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, ":"):
			if name := strings.Fields(line[1:]); len(name) > 0 && ourChain(name[0]) {
				cs.chains = append(cs.chains, name[0])
			}
		case strings.HasPrefix(line, "-A "):
			f := strings.Fields(line)
			if len(f) < 2 || ourChain(f[1]) {
				continue
			}
			if j := slices.Index(f, "-j"); j > 0 && j+1 < len(f) && ourChain(f[j+1]) {
				cs.jumps = append(cs.jumps, line)
			} else if g := slices.Index(f, "-g"); g > 0 && g+1 < len(f) && ourChain(f[g+1]) {
				cs.jumps = append(cs.jumps, line)
			}
		}
	}
	return cs
}

// deleteChains removes, in every table, the jumps to KUBE-* and CNI-*
// chains from other chains, then flushes and deletes those chains, one
// iptables-restore --noflush transaction per table.
//
// Equivalent to: iptables -t T -D CHAIN RULE (each jump); iptables -t T
// -F KUBE-X; iptables -t T -X KUBE-X (each chain); and for ip6tables.
func deleteChains(ctx context.Context) ([]string, error) {
	found, err := findChains(ctx)
	if err != nil {
		return nil, err
	}
	var deleted []string
	var errs []error
	for key, cs := range found {
		var in bytes.Buffer
		fmt.Fprintf(&in, "*%s\n", key[1])
		for _, j := range cs.jumps {
			fmt.Fprintf(&in, "-D %s\n", strings.TrimPrefix(j, "-A "))
		}
		for _, c := range cs.chains {
			fmt.Fprintf(&in, ":%s - [0:0]\n", c) // with --noflush: flush it
		}
		for _, c := range cs.chains {
			fmt.Fprintf(&in, "-X %s\n", c)
		}
		in.WriteString("COMMIT\n")
		cmd := exec.CommandContext(ctx, key[0]+"-restore", "--noflush")
		cmd.Stdin = &in
		if out, err := cmd.CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("%s-restore (table %s): %w: %s", key[0], key[1], err, bytes.TrimSpace(out)))
			continue
		}
		for _, c := range cs.chains {
			deleted = append(deleted, key[0]+"/"+key[1]+"/"+c)
		}
	}
	slices.Sort(deleted)
	return deleted, errors.Join(errs...)
}
