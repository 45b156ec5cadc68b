package network

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/chaostest"
	"github.com/aiuptime/aiuptime/internal/procfs"
)

// rootQdiscs lists the handles of the root qdiscs on va in namespace A.
func rootQdiscs(t *testing.T, p pair) []uint32 {
	t.Helper()
	h, err := netlink.NewHandleAt(p.a)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByName("va")
	if err != nil {
		t.Fatal(err)
	}
	qs, err := h.QdiscList(l)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint32
	for _, q := range qs {
		if q.Attrs().Parent == netlink.HANDLE_ROOT && q.Type() == "tbf" {
			out = append(out, q.Attrs().Handle)
		}
	}
	return out
}

func recordOf(t *testing.T, j *chaos.Journal) chaos.Record {
	t.Helper()
	recs, err := j.List()
	if err != nil || len(recs) != 1 {
		t.Fatalf("journal: %v %v", recs, err)
	}
	return recs[0]
}

// TestTwoDrillsKeepEachOthersFaults: two drills (two journals) fault one
// namespace; the second's revert leaves the first's fault in force.
func TestTwoDrillsKeepEachOthersFaults(t *testing.T) {
	p := newPair(t)
	c := udpEcho(t, p)
	target := Target{Service: "a", NetNS: p.path(p.a)}
	first, second := chaostest.Deps(t), chaostest.Deps(t)

	t.Run("nftables tables", func(t *testing.T) {
		revA, err := (&Partition{Spec: PartitionSpec{Mode: MechNftables}, Target: target, Deps: first}).Inject(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		tableA := TableFor(recordOf(t, first.Journal).ID)
		revB, err := (&Partition{Spec: PartitionSpec{Mode: MechNftables}, Target: target, Deps: second}).Inject(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := revB(context.Background()); err != nil {
			t.Fatal(err)
		}
		if ts, _ := Tables(target.NetNS); len(ts) != 1 || ts[0] != tableA {
			t.Fatalf("after the second drill's revert: tables %v, want only the first's %s", ts, tableA)
		}
		if got := echoed(c, 10); got != 0 {
			t.Fatalf("the first drill's partition ended early: %d/10 echoed", got)
		}
		if err := revA(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := echoed(c, 10); got != 10 {
			t.Fatalf("after both reverts: %d/10", got)
		}
	})
	t.Run("root qdiscs", func(t *testing.T) {
		revA, err := (&Bandwidth{Spec: BandwidthSpec{Rate: 1 << 20}, Target: target, Deps: first}).Inject(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		handleA := QdiscHandleFor(recordOf(t, first.Journal).ID)
		revB, err := (&Bandwidth{Spec: BandwidthSpec{Rate: 1 << 20}, Target: target, Deps: second}).Inject(context.Background())
		if err == nil || !strings.Contains(err.Error(), "a root qdisc is already there") {
			t.Fatalf("second root qdisc: %v", err)
		}
		if err := revB(context.Background()); err != nil { // the half-applied fault's revert
			t.Fatal(err)
		}
		if hs := rootQdiscs(t, p); len(hs) != 1 || hs[0] != handleA {
			t.Fatalf("after the second drill's revert: tbf handles %x, want the first's %x", hs, handleA)
		}
		if err := revA(context.Background()); err != nil {
			t.Fatal(err)
		}
		if hs := rootQdiscs(t, p); len(hs) != 0 {
			t.Fatalf("tbf left: %x", hs)
		}
	})
	t.Run("link down", func(t *testing.T) {
		revA, err := (&Partition{Target: target, Deps: first}).Inject(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_, err = (&Partition{Target: target, Deps: second}).Inject(context.Background())
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("second link down: %v, want ErrBusy", err)
		}
		if got := echoed(c, 5); got != 0 {
			t.Fatalf("the first drill's partition ended: %d/5", got)
		}
		if err := revA(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := echoed(c, 10); got != 10 {
			t.Fatalf("after revert: %d/10", got)
		}
	})
	chaostest.JournalEmpty(t, first.Journal)
	chaostest.JournalEmpty(t, second.Journal)
}

// TestReplayRefusesAnotherRecordsNames: a planted record that names
// another drill's table, qdisc or toxic, or a namespace the run does not
// own, is quarantined and the other drill's fault stays in force.
func TestReplayRefusesAnotherRecordsNames(t *testing.T) {
	p := newPair(t)
	c := udpEcho(t, p)
	target := Target{Service: "a", NetNS: p.path(p.a)}
	drill := chaostest.Deps(t)
	rev, err := (&Partition{Spec: PartitionSpec{Mode: MechNftables}, Target: target, Deps: drill}).Inject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer rev(context.Background())
	victim := recordOf(t, drill.Journal)
	nsA, err := procfs.NamespaceOf(target.NetNS)
	if err != nil {
		t.Fatal(err)
	}
	nsB, err := procfs.NamespaceOf(p.path(p.b))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, reverter, reason string
		state                  any
		owns                   procfs.NSID
	}{
		{"another record's table", "network/nft", "is not the record's own", nftState{Target: target, Table: TableFor(victim.ID)}, nsA},
		{"another record's qdisc", "network/qdisc", "is not the record's own", qdiscState{Target: target, Links: []Link{{Index: 2, Name: "va"}}, Handle: QdiscHandleFor(victim.ID), Kind: MechTBF}, nsA},
		{"another record's toxic", "network/toxic", "is not the record's own", toxicState{APIURL: "http://127.0.0.1:8474", Proxy: "model-0", Toxic: ToxicFor(victim.ID)}, nsA},
		{"a namespace the run does not own", "network/linkdown", "belongs to no container", linkDownState{Target: target, Links: []Link{{Index: 2, Name: "va"}}}, nsB},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := chaostest.PlantAndReplay(t, chaostest.Owns{Namespaces: []procfs.NSID{tc.owns}}, chaos.Record{Reverter: tc.reverter, Target: "a"},
				func(string, string) any { return tc.state })
			chaostest.WantQuarantined(t, res, err, tc.reason)
			if ts, _ := Tables(target.NetNS); len(ts) != 1 || ts[0] != TableFor(victim.ID) {
				t.Fatalf("the other drill's table is gone: %v", ts)
			}
			if got := echoed(c, 5); got != 0 {
				t.Fatalf("the other drill's partition ended: %d/5", got)
			}
		})
	}
}
