package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/chaostest"
	"github.com/aiuptime/aiuptime/hostcaps"
	"github.com/aiuptime/aiuptime/internal/procfs"
)

func skipUnlessRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
}

// pair is two scratch namespaces joined by a veth: A 10.99.0.1, B 10.99.0.2.
type pair struct {
	a, b netns.NsHandle
}

func (p pair) path(ns netns.NsHandle) string {
	return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(ns))
}

func newPair(t testing.TB) pair {
	t.Helper()
	skipUnlessRoot(t)
	a, err := hostcaps.NewScratchNS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err := hostcaps.NewScratchNS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ha, err := netlink.NewHandleAt(a)
	if err != nil {
		t.Fatal(err)
	}
	defer ha.Close()
	hb, err := netlink.NewHandleAt(b)
	if err != nil {
		t.Fatal(err)
	}
	defer hb.Close()
	if err := ha.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "va"}, PeerName: "vb"}); err != nil {
		t.Fatal(err)
	}
	vb, err := ha.LinkByName("vb")
	if err != nil {
		t.Fatal(err)
	}
	if err := ha.LinkSetNsFd(vb, int(b)); err != nil {
		t.Fatal(err)
	}
	setup := func(h *netlink.Handle, name, cidr string) {
		l, err := h.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		addr, _ := netlink.ParseAddr(cidr)
		if err := h.AddrAdd(l, addr); err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
		lo, _ := h.LinkByName("lo")
		_ = h.LinkSetUp(lo)
	}
	setup(ha, "va", "10.99.0.1/24")
	setup(hb, "vb", "10.99.0.2/24")
	// A default route, so linkdown's route restore is exercised.
	va, _ := ha.LinkByName("va")
	if err := ha.RouteAdd(&netlink.Route{LinkIndex: va.Attrs().Index, Gw: net.ParseIP("10.99.0.2")}); err != nil {
		t.Fatal(err)
	}
	return pair{a: a, b: b}
}

// in runs f with the calling thread inside ns (sockets created there stay there).
func in(t testing.TB, ns netns.NsHandle, f func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		t.Fatal(err)
	}
	f()
	if err := netns.Set(orig); err != nil {
		panic(err) // thread stays locked and dies with the goroutine
	}
}

// udpEcho starts a UDP echo server in B and returns a client socket in A.
func udpEcho(t testing.TB, p pair) *net.UDPConn {
	var srv net.PacketConn
	var err error
	in(t, p.b, func() { srv, err = net.ListenPacket("udp4", "10.99.0.2:7007") })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	go func() {
		buf := make([]byte, 64)
		for {
			n, addr, err := srv.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = srv.WriteTo(buf[:n], addr)
		}
	}()
	var c *net.UDPConn
	in(t, p.a, func() {
		var conn net.Conn
		conn, err = net.Dial("udp4", "10.99.0.2:7007")
		if err == nil {
			c = conn.(*net.UDPConn)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// echoed sends n datagrams one by one and counts replies.
// warmEcho sends one datagram and waits up to a second for its echo.
func warmEcho(c *net.UDPConn) {
	buf := make([]byte, 64)
	if _, err := c.Write([]byte("warm")); err != nil {
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	for {
		k, err := c.Read(buf)
		if err != nil || string(buf[:k]) == "warm" {
			return
		}
	}
}

func echoed(c *net.UDPConn, n int) int {
	got := 0
	buf := make([]byte, 64)
	for i := 0; i < n; i++ {
		msg := fmt.Sprintf("%08d", i)
		if _, err := c.Write([]byte(msg)); err != nil {
			continue
		}
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		for {
			k, err := c.Read(buf)
			if err != nil {
				break
			}
			if string(buf[:k]) == msg {
				got++
				break
			}
		}
	}
	return got
}

func TestRefusesHostNamespace(t *testing.T) {
	skipUnlessRoot(t)
	for _, path := range []string{"/proc/self/ns/net", "/proc/thread-self/ns/net", fmt.Sprintf("/proc/%d/ns/net", os.Getpid())} {
		f := &Partition{Target: Target{Service: "host", NetNS: path}, Deps: chaostest.Deps(t)}
		_, err := f.Inject(context.Background())
		if !errors.Is(err, chaos.ErrHostNamespace) {
			t.Fatalf("%s: want ErrHostNamespace, got %v", path, err)
		}
		if _, err := (Target{Service: "self", PID: os.Getpid()}).resolve(); !errors.Is(err, chaos.ErrHostNamespace) {
			t.Fatalf("a target in our own namespace: want ErrHostNamespace, got %v", err)
		}
	}
}

func TestLossNftables(t *testing.T) {
	p := newPair(t)
	c := udpEcho(t, p)
	if got := echoed(c, 50); got != 50 {
		t.Fatalf("baseline: %d/50 echoed", got)
	}
	d := chaostest.Deps(t)
	f := &Loss{Spec: LossSpec{Fraction: 0.3}, Target: Target{Service: "a", NetNS: p.path(p.a)}, Deps: d, Kernel: hostcaps.Kernel{NftNumgen: true}}
	rev, err := f.Inject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if f.Mechanism() != MechNftables {
		t.Fatalf("mechanism %s", f.Mechanism())
	}
	const n = 2000
	got := echoed(c, n)
	seen, dropped, err := f.Observed()
	if err != nil {
		t.Fatal(err)
	}
	loss := 1 - float64(got)/n
	t.Logf("requested 30%% loss, observed %.1f%% by echo, counters %d/%d = %.1f%%", loss*100, dropped, seen, 100*float64(dropped)/float64(seen))
	if loss < 0.25 || loss > 0.35 {
		t.Fatalf("observed loss %.3f outside 0.30±0.05", loss)
	}
	if err := rev(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := rev(context.Background()); err != nil {
		t.Fatalf("second revert: %v", err)
	}
	chaostest.JournalEmpty(t, d.Journal)
	if got := echoed(c, 100); got != 100 {
		t.Fatalf("after revert %d/100 echoed", got)
	}
	if ts, _ := Tables(p.path(p.a)); len(ts) != 0 {
		t.Fatalf("tables left: %v", ts)
	}
}

func TestPartition(t *testing.T) {
	for _, tc := range []struct {
		name  string
		peers []net.IP
		mech  string
	}{{"linkdown", nil, MechLinkDown}, {"nft-peer", []net.IP{net.ParseIP("10.99.0.2")}, MechNftables}} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t)
			c := udpEcho(t, p)
			d := chaostest.Deps(t)
			f := &Partition{Spec: PartitionSpec{Peer: map[bool]string{true: "b"}[tc.peers != nil]}, Target: Target{Service: "a", NetNS: p.path(p.a), PeerIPs: tc.peers}, Deps: d}
			rev, err := f.Inject(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if f.Mechanism() != tc.mech {
				t.Fatalf("mechanism %s", f.Mechanism())
			}
			if got := echoed(c, 20); got != 0 {
				t.Fatalf("partitioned: %d/20 echoed", got)
			}
			if err := rev(context.Background()); err != nil {
				t.Fatal(err)
			}
			chaostest.JournalEmpty(t, d.Journal)
			// The first packet after a link comes back waits for ARP (the
			// neighbour entry went with the link): let one through, then
			// every one must be echoed.
			warmEcho(c)
			if got := echoed(c, 20); got != 20 {
				t.Fatalf("after revert: %d/20 echoed", got)
			}
			ha, _ := netlink.NewHandleAt(p.a)
			defer ha.Close()
			rs, _ := ha.RouteList(nil, netlink.FAMILY_V4)
			hasDefault := false
			for _, r := range rs {
				if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" {
					hasDefault = true
				}
			}
			if !hasDefault {
				t.Fatalf("default route not restored: %v", rs)
			}
		})
	}
}

func TestBandwidthTBF(t *testing.T) {
	p := newPair(t)
	var ln net.Listener
	var err error
	in(t, p.b, func() { ln, err = net.Listen("tcp4", "10.99.0.2:7008") })
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 32<<10)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	send := func(n int) float64 {
		var c net.Conn
		in(t, p.a, func() { c, err = net.Dial("tcp4", "10.99.0.2:7008") })
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		buf := make([]byte, n)
		start := time.Now()
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
		// Close flushes; wait until the peer consumed it by a half close and read.
		_ = c.(*net.TCPConn).CloseWrite()
		_, _ = c.Read(make([]byte, 1))
		return float64(n*8) / time.Since(start).Seconds()
	}
	base := send(1 << 20)
	d := chaostest.Deps(t)
	f := &Bandwidth{Spec: BandwidthSpec{Rate: 2_000_000}, Target: Target{Service: "a", NetNS: p.path(p.a)}, Deps: d}
	rev, err := f.Inject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	shaped := send(256 << 10)
	if err := rev(context.Background()); err != nil {
		t.Fatal(err)
	}
	chaostest.JournalEmpty(t, d.Journal)
	t.Logf("requested 2mbit: observed %.2f mbit/s (unshaped %.0f mbit/s)", shaped/1e6, base/1e6)
	if shaped > 2.6e6 || shaped < 1e6 {
		t.Fatalf("shaped throughput %.2f mbit/s is not about 2 mbit/s", shaped/1e6)
	}
}

// TestCrashReplay injects in a child process that is SIGKILLed, then
// replays the journal.
func TestCrashReplay(t *testing.T) {
	chaostest.CrashChild(t, func(d chaos.Deps, netns string) chaos.Fault {
		return &Partition{Spec: PartitionSpec{Mode: MechNftables}, Target: Target{Service: "a", NetNS: netns}, Deps: d}
	})
	p := newPair(t)
	c := udpEcho(t, p)
	state := chaostest.Crash(t, p.path(p.a))
	if got := echoed(c, 10); got != 0 {
		t.Fatalf("fault not in place after SIGKILL: %d/10", got)
	}
	// The scratch namespace stands for the run's container: the replay
	// proves the record acts in it.
	ns, err := procfs.NamespaceOf(p.path(p.a))
	if err != nil {
		t.Fatal(err)
	}
	res, err := chaostest.Replay(t, state, chaostest.Owns{Namespaces: []procfs.NSID{ns}})
	if err != nil || len(res.Reverted) != 1 {
		t.Fatalf("replay: %+v %v", res, err)
	}
	if got := echoed(c, 10); got != 10 {
		t.Fatalf("after replay: %d/10", got)
	}
}
