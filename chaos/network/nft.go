package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/chaos"
)

// nftState is what the "network/nft" reverter needs.
type nftState struct {
	Target Target `json:"target"`
	Table  string `json:"table"`
}

func init() { chaos.RegisterStateReverter("network/nft", revertNft) }

func nftConn(t Target) (*nftables.Conn, func(), error) {
	h, ns, err := t.open()
	if err != nil {
		return nil, nil, err
	}
	h.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		ns.Close()
		return nil, nil, fmt.Errorf("nftables in %s: %w", t.NetNS, err)
	}
	return c, func() { c.CloseLasting(); ns.Close() }, nil
}

func revertNft(_ context.Context, st nftState) error {
	if st.Target.gone() {
		return nil
	}
	c, done, err := nftConn(st.Target)
	if err != nil {
		if st.Target.gone() {
			return nil
		}
		return err
	}
	defer done()
	c.DelTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: st.Table})
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete nft table %s: %w", st.Table, err)
	}
	return nil
}

// nftRule is one rule body for a chain.
type nftChains struct {
	out [][]expr.Any
	in  [][]expr.Any
}

// applyNft journals, then creates table inet aiuptime_<id> with output
// and input filter chains holding the given rules.
// Equivalent to: ip netns exec NS nft add table inet aiuptime_ID; add chain ... hook output ...
func applyNft(ctx context.Context, d chaos.Deps, kind string, t Target, rules nftChains) (chaos.Revert, string, error) {
	id := chaos.NewID()
	table := TableFor(id)
	st := nftState{Target: t, Table: table}
	rec := chaos.Record{ID: id, Kind: kind, Target: t.Service, Reverter: "network/nft", Mechanism: MechNftables}
	rev, _, err := chaos.Apply(ctx, d, rec, st, func(context.Context) error {
		c, done, err := nftConn(t)
		if err != nil {
			return err
		}
		defer done()
		tbl := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: table})
		add := func(name string, hook *nftables.ChainHook, rs [][]expr.Any) {
			if len(rs) == 0 {
				return
			}
			ch := c.AddChain(&nftables.Chain{Name: name, Table: tbl, Type: nftables.ChainTypeFilter, Hooknum: hook, Priority: nftables.ChainPriorityFilter})
			for _, r := range rs {
				c.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: r})
			}
		}
		add("out", nftables.ChainHookOutput, rules.out)
		add("in", nftables.ChainHookInput, rules.in)
		if err := c.Flush(); err != nil {
			return fmt.Errorf("create nft table %s in %s: %w", table, t.NetNS, err)
		}
		return nil
	})
	return rev, table, err
}

// notLoopback matches packets whose in/out interface is not lo (ifindex 1).
func notLoopback(key expr.MetaKey) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(1)},
	}
}

// matchIP matches the IPv4 or IPv6 source (src) or destination address.
// The header offsets are those of the IPv4 (saddr 12, daddr 16) and IPv6
// (saddr 8, daddr 24) headers.
func matchIP(ip net.IP, src bool) []expr.Any {
	proto, addr, srcOff, dstOff := byte(unix.NFPROTO_IPV6), ip.To16(), uint32(8), uint32(24)
	if v4 := ip.To4(); v4 != nil {
		proto, addr, srcOff, dstOff = unix.NFPROTO_IPV4, v4, 12, 16
	}
	off := dstOff
	if src {
		off = srcOff
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: uint32(len(addr))},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr},
	}
}

func concat(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var drop = []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}

// dropRules builds one rule per peer (or one for all traffic) from tail.
func perPeer(key expr.MetaKey, peers []net.IP, src bool, tail []expr.Any) [][]expr.Any {
	if len(peers) == 0 {
		return [][]expr.Any{concat(notLoopback(key), tail)}
	}
	var rs [][]expr.Any
	for _, ip := range peers {
		rs = append(rs, concat(notLoopback(key), matchIP(ip, src), tail))
	}
	return rs
}

const (
	exprOIF = expr.MetaKeyOIF
	exprIIF = expr.MetaKeyIIF
)

func counter() []expr.Any { return []expr.Any{&expr.Counter{}} }

// counters returns (packets seen, packets dropped) of the first rule of a
// loss table's output chain: its first and second counters.
func counters(t Target, table string) (uint64, uint64, error) {
	c, done, err := nftConn(t)
	if err != nil {
		return 0, 0, err
	}
	defer done()
	tbl := &nftables.Table{Family: nftables.TableFamilyINet, Name: table}
	rules, err := c.GetRules(tbl, &nftables.Chain{Name: "out", Table: tbl})
	if err != nil {
		return 0, 0, fmt.Errorf("read nft rules of %s: %w", table, err)
	}
	var seen, dropped uint64
	for _, r := range rules {
		n := 0
		for _, e := range r.Exprs {
			if ctr, ok := e.(*expr.Counter); ok {
				if n == 0 {
					seen += ctr.Packets
				} else {
					dropped += ctr.Packets
				}
				n++
			}
		}
	}
	return seen, dropped, nil
}

// Tables lists our nftables tables (prefix TablePrefix) in the namespace at path.
func Tables(netnsPath string) ([]string, error) {
	t := Target{NetNS: netnsPath}
	c, done, err := nftConn(t)
	if err != nil {
		return nil, err
	}
	defer done()
	ts, err := c.ListTables()
	if err != nil {
		return nil, fmt.Errorf("list nft tables in %s: %w", netnsPath, err)
	}
	var out []string
	for _, tb := range ts {
		if strings.HasPrefix(tb.Name, TablePrefix) {
			out = append(out, tb.Name)
		}
	}
	return out, nil
}
