package local

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// cgroupFS is where the cgroup hierarchies are mounted.
const cgroupFS = "/sys/fs/cgroup"

// nodeSysctls are the kernel settings the kubelet (setupKernelTunables:
// it writes them unless protectKernelDefaults, which would refuse to start
// on a host that differs), kube-proxy (route_localnet, conntrack; both
// configured to leave them alone) and the CNI bridge plugin (ip_forward)
// may change. Up records them before and after; Down restores the changed.
var nodeSysctls = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
	"net/ipv4/conf/all/route_localnet", "net/ipv4/ip_forward",
	"net/netfilter/nf_conntrack_max", "net/netfilter/nf_conntrack_tcp_timeout_established",
	"net/netfilter/nf_conntrack_tcp_timeout_close_wait",
}

// readSysctls reads nodeSysctls (those that exist).
func readSysctls() map[string]string {
	m := map[string]string{}
	for _, k := range nodeSysctls {
		if b, err := os.ReadFile(filepath.Join("/proc/sys", k)); err == nil {
			m[k] = strings.TrimSpace(string(b))
		}
	}
	return m
}

// sysctlFile keeps the host's own values of nodeSysctls from the start of
// the first real node until the last one's Down restored them, so that a
// node started after a crashed one (whose changes were never undone)
// still knows the values to restore.
var sysctlFile = filepath.Join(os.TempDir(), "aiuptime-kube-realnode.sysctls.json")

// pristineSysctls returns the host's own values: those sysctlFile kept,
// else the current ones, which it then keeps. Call it with the start lock
// held and no other real node running.
func pristineSysctls() map[string]string {
	if m := keptSysctls(); len(m) > 0 {
		return m
	}
	m := readSysctls()
	if b, err := json.Marshal(m); err == nil {
		_ = os.WriteFile(sysctlFile, b, 0o600)
	}
	return m
}

// kubeletSysctls are the values the kubelet writes (setupKernelTunables):
// what a node changed when it died before Up recorded the values after.
var kubeletSysctls = map[string]string{
	"vm/overcommit_memory": "1", "vm/panic_on_oom": "0", "kernel/panic": "10", "kernel/panic_on_oops": "1",
	"kernel/keys/root_maxkeys": "1000000", "kernel/keys/root_maxbytes": "25000000",
}

// keptSysctls returns what sysctlFile keeps, or nil.
func keptSysctls() map[string]string {
	var m map[string]string
	if b, err := os.ReadFile(sysctlFile); err == nil && json.Unmarshal(b, &m) == nil {
		return m
	}
	return nil
}

// restoreSysctls writes back every setting that the node changed (before
// differs from after) and that nobody changed since (now equals after).
func restoreSysctls(before, after map[string]string) (restored []string, err error) {
	now := readSysctls()
	var errs []error
	for k, b := range before {
		a, ok := after[k]
		if !ok || a == b || now[k] != a {
			continue
		}
		if werr := os.WriteFile(filepath.Join("/proc/sys", k), []byte(b), 0o644); werr != nil {
			errs = append(errs, fmt.Errorf("restore sysctl %s=%s: %w", k, b, werr))
			continue
		}
		restored = append(restored, k+"="+b)
	}
	slices.Sort(restored)
	return restored, errors.Join(errs...)
}

// nodeIP is the host's address the apiserver reaches the kubelet at: the
// source address of the default route (the kubelet refuses loopback).
func nodeIP() (string, error) {
	routes, err := netlink.RouteGet(net.IPv4(1, 1, 1, 1))
	if err == nil && len(routes) > 0 && routes[0].Src != nil {
		return routes[0].Src.String(), nil
	}
	addrs, aerr := netlink.AddrList(nil, netlink.FAMILY_V4)
	if aerr != nil {
		return "", fmt.Errorf("node ip: %w", errors.Join(err, aerr))
	}
	for _, a := range addrs {
		if a.IP.IsGlobalUnicast() {
			return a.IP.String(), nil
		}
	}
	return "", fmt.Errorf("node ip: no global IPv4 address (%v)", err)
}

// freePodCIDR picks the first 10.244.X.0/24 that overlaps no route and no
// address of the host, and its gateway (.1).
func freePodCIDR() (cidr, gateway string, err error) {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return "", "", fmt.Errorf("list routes: %w", err)
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return "", "", fmt.Errorf("list addresses: %w", err)
	}
	var used []*net.IPNet
	for _, r := range routes {
		if r.Dst != nil && !r.Dst.IP.IsUnspecified() {
			used = append(used, r.Dst)
		}
	}
	for _, a := range addrs {
		used = append(used, a.IPNet)
	}
	for x := range 256 {
		_, n, _ := net.ParseCIDR(fmt.Sprintf("10.244.%d.0/24", x))
		if !slices.ContainsFunc(used, func(u *net.IPNet) bool { return u.Contains(n.IP) || n.Contains(u.IP) }) {
			return n.String(), fmt.Sprintf("10.244.%d.1", x), nil
		}
	}
	return "", "", errors.New("no free pod CIDR in 10.244.0.0/16")
}

// setupNodeHost makes the node's bridge (named for the cluster, its alias
// the state dir, so an orphan can be traced) with the gateway address, and
// the kubelet's cgroup root in every cgroup v1 hierarchy.
//
// Equivalent to: ip link add aiuk-HASH type bridge; ip link set aiuk-HASH
// alias DIR; ip addr add GW/24 dev aiuk-HASH; ip link set aiuk-HASH up;
// mkdir /sys/fs/cgroup/*/aiuptime-kube-HASH.
func setupNodeHost(id nodeID, n *NodeState) error {
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: id.bridge()}}
	if err := netlink.LinkAdd(br); err != nil {
		return fmt.Errorf("create bridge %s: %w", id.bridge(), err)
	}
	if err := netlink.LinkSetAlias(br, id.dir); err != nil {
		return fmt.Errorf("bridge %s alias: %w", id.bridge(), err)
	}
	addr, err := netlink.ParseAddr(n.Gateway + "/" + strings.Split(n.PodCIDR, "/")[1])
	if err != nil {
		return fmt.Errorf("gateway address: %w", err)
	}
	if err := netlink.AddrAdd(br, addr); err != nil {
		return fmt.Errorf("bridge %s address: %w", id.bridge(), err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return fmt.Errorf("bridge %s up: %w", id.bridge(), err)
	}
	hs, err := cgroupHierarchies()
	if err != nil {
		return err
	}
	for _, h := range hs {
		d := filepath.Join(h, id.cgroupRoot())
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create cgroup %s: %w", d, err)
		}
		if filepath.Base(h) == "cpuset" { // a cpuset child starts empty: no task may join it
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				b, err := os.ReadFile(filepath.Join(h, f))
				if err == nil {
					err = os.WriteFile(filepath.Join(d, f), b, 0o644)
				}
				if err != nil {
					return fmt.Errorf("cgroup %s: %s: %w", d, f, err)
				}
			}
		}
	}
	return nil
}

// cgroupHierarchies lists the mount points of the cgroup hierarchies (v1
// controllers, named ones, and the v2 one) under /sys/fs/cgroup.
func cgroupHierarchies() ([]string, error) {
	mounts, err := readMountinfo()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range mounts {
		if (m.fstype == "cgroup" || m.fstype == "cgroup2") && strings.HasPrefix(m.point, cgroupFS) && !slices.Contains(out, m.point) {
			out = append(out, m.point)
		}
	}
	return out, nil
}

// mount is one line of /proc/self/mountinfo.
type mount struct {
	id     int
	point  string
	fstype string
}

// readMountinfo parses /proc/self/mountinfo, in mount order.
func readMountinfo() ([]mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	defer f.Close()
	var out []mount
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if len(fields) < 5 || sep < 0 || sep+1 >= len(fields) {
			continue
		}
		id, _ := strconv.Atoi(fields[0])
		out = append(out, mount{id: id, point: unescapeMount(fields[4]), fstype: fields[sep+1]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return out, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space, ...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountsUnder lists the mount points under dir, the most recent (and so
// the deepest stacked) first: the order to unmount them in.
func mountsUnder(dir string) ([]string, error) {
	ms, err := readMountinfo()
	if err != nil {
		return nil, err
	}
	prefix := filepath.Clean(dir) + string(filepath.Separator)
	var out []string
	for i := len(ms) - 1; i >= 0; i-- {
		if strings.HasPrefix(ms[i].point, prefix) {
			out = append(out, ms[i].point)
		}
	}
	return out, nil
}

// unmountUnder unmounts everything mounted under dir: pods' volumes and
// shm, network namespaces, overlay root filesystems. A mount that is busy
// is detached (lazy) as the last resort.
//
// Equivalent to: umount PATH || umount -l PATH, deepest first.
func unmountUnder(dir string) ([]string, error) {
	points, err := mountsUnder(dir)
	if err != nil {
		return nil, err
	}
	var done []string
	var errs []error
	for _, p := range points {
		err := unix.Unmount(p, unix.UMOUNT_NOFOLLOW)
		if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			err = unix.Unmount(p, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
		}
		if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
			continue
		}
		done = append(done, p)
	}
	return done, errors.Join(errs...)
}
