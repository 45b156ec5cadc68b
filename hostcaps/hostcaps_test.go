package hostcaps

import (
	"context"
	"os"
	"os/exec"
	"testing"
)

// The probe's findings agree with tc, a second tool, run in a scratch
// namespace of its own.
func TestProbeAgreesWithTC(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	k, err := Probe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !k.Probed || !k.TBF || !k.LinkDown || !k.Nftables {
		t.Fatalf("probe: %+v", k)
	}
	if _, err := exec.LookPath("tc"); err != nil {
		t.Skip("no tc to compare with")
	}
	ns := "aiuptime-hostcaps-test"
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("ip netns add: %v %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", ns).Run()
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v %s", err, out)
	}
	tcNetem := exec.Command("tc", "-n", ns, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms").Run() == nil
	if tcNetem != k.Netem {
		t.Fatalf("netem: probe says %v (%s), tc says %v", k.Netem, k.Why("netem"), tcNetem)
	}
	if !k.Netem && k.Why("netem") == "" {
		t.Fatal("a missing netem must say why")
	}
}
