package integration_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/container"
	"github.com/aiuptime/aiuptime/chaos/disk"
	"github.com/aiuptime/aiuptime/chaos/gpu"
	"github.com/aiuptime/aiuptime/chaos/network"
	"github.com/aiuptime/aiuptime/probe"
	"github.com/aiuptime/aiuptime/stack"
)

func env() chaos.Env {
	return chaos.Env{Stack: st, Kernel: kernel, Log: log, Journal: journal}
}

// plan decodes one fault of the registry for a target, as a drill step does.
func plan(kind string, params map[string]any, target string) *chaos.Planned {
	GinkgoHelper()
	k, err := chaos.LookupKind(kind)
	Expect(err).NotTo(HaveOccurred())
	spec, err := k.Decode(params)
	Expect(err).NotTo(HaveOccurred())
	return chaos.Plan(env(), spec, target)
}

// inject plans and injects one fault through a Guard; the revert is also
// registered as a cleanup so a failed spec never leaves it behind.
func inject(ctx context.Context, kind string, params map[string]any, target string) (*chaos.Injection, *chaos.Planned) {
	GinkgoHelper()
	f := plan(kind, params, target)
	g, err := chaos.NewGuard(chaos.WithLogger(log))
	Expect(err).NotTo(HaveOccurred())
	inj, err := g.Inject(ctx, f)
	Expect(err).NotTo(HaveOccurred())
	pending = append(pending, inj)
	return inj, f
}

// pending holds this spec's injections; AfterEach reverts them (again:
// reverts are idempotent) before it checks health, so a failed spec never
// leaves a fault behind.
var pending []*chaos.Injection

func revertPending(ctx context.Context) {
	GinkgoHelper()
	p := pending
	pending = nil
	for _, inj := range p {
		Expect(inj.Revert(ctx)).To(Succeed())
	}
}

func revert(ctx context.Context, inj *chaos.Injection) {
	GinkgoHelper()
	Expect(inj.Revert(ctx)).To(Succeed())
	AddReportEntry(inj.Fault.Name()+" timings", fmt.Sprintf("mechanism=%s inject=%v revert=%v", inj.Mechanism, inj.Injected, inj.Reverted))
	fmt.Fprintf(GinkgoWriter, "MEASURE %s mechanism=%s inject=%v revert=%v\n", inj.Fault.Name(), inj.Mechanism, inj.Injected, inj.Reverted)
}

// run probes url for d and returns every result.
func run(ctx context.Context, url string, d time.Duration, opts ...probe.Option) []probe.Result {
	GinkgoHelper()
	p, err := probe.New(url, append([]probe.Option{probe.WithDuration(d)}, opts...)...)
	Expect(err).NotTo(HaveOccurred())
	ch, err := p.Start(ctx)
	Expect(err).NotTo(HaveOccurred())
	var rs []probe.Result
	for r := range ch {
		rs = append(rs, r)
	}
	return rs
}

func gatewayChat(interval, timeout time.Duration) []probe.Option {
	return []probe.Option{probe.WithMode(probe.ModeChat), probe.WithAPIKey(st.APIKey()), probe.WithModel(st.ModelName()),
		probe.WithInterval(interval), probe.WithTimeout(timeout), probe.WithMaxTokens(2)}
}

func modelChat(interval, timeout time.Duration) []probe.Option {
	o := []probe.Option{probe.WithMode(probe.ModeChat), probe.WithModel(st.ModelName()),
		probe.WithInterval(interval), probe.WithTimeout(timeout), probe.WithMaxTokens(2)}
	if k := st.ModelAPIKey(); k != "" {
		o = append(o, probe.WithAPIKey(k))
	}
	return o
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(a, b int) bool { return s[a] < s[b] })
	return s[len(s)/2]
}

func latencies(rs []probe.Result, backend string) []time.Duration {
	var out []time.Duration
	for _, r := range rs {
		if r.Outcome == probe.OK && (backend == "" || r.Backend == backend) {
			out = append(out, r.Latency)
		}
	}
	return out
}

func count(rs []probe.Result, o probe.Outcome) int {
	n := 0
	for _, r := range rs {
		if r.Outcome == o {
			n++
		}
	}
	return n
}

func svcURL(ctx context.Context, name string) string {
	s, err := st.Service(ctx, name)
	Expect(err).NotTo(HaveOccurred())
	return s.URL
}

func body(ctx context.Context, url string) (int, string) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func gatewayReadiness(ctx context.Context) (int, string) {
	return body(ctx, svcURL(ctx, "gateway")+"/health/readiness")
}

var _ = Describe("fault kinds against the embedded stack", Label("integration"), func() {
	BeforeEach(func(ctx SpecContext) { healthy(ctx) }, NodeTimeout(2*time.Minute))
	AfterEach(func(ctx SpecContext) {
		revertPending(ctx)
		healthy(ctx)
		doctorClean(ctx)
	}, NodeTimeout(2*time.Minute))

	It("network-delay adds the requested latency (netem or toxiproxy)", func(ctx SpecContext) {
		const want = 200 * time.Millisecond
		base := median(latencies(run(ctx, svcURL(ctx, "gateway"), 3*time.Second, gatewayChat(50*time.Millisecond, 3*time.Second)...), "model-0"))
		inj, f := inject(ctx, network.KindDelay, map[string]any{"delay": "200ms"}, "model-0")
		rs := run(ctx, svcURL(ctx, "gateway"), 4*time.Second, gatewayChat(50*time.Millisecond, 3*time.Second)...)
		revert(ctx, inj)
		during := latencies(rs, "model-0")
		Expect(len(during)).To(BeNumerically(">=", 5), "requests served by model-0")
		added := median(during) - base
		fmt.Fprintf(GinkgoWriter, "MEASURE network-delay mechanism=%s requested=%v observed_added=%v (median %v -> %v, n=%d)\n", f.Mechanism(), want, added, base, median(during), len(during))
		AddReportEntry("network-delay requested vs observed", fmt.Sprintf("mechanism=%s requested=%v observed=%v", f.Mechanism(), want, added))
		Expect(f.Mechanism()).To(BeElementOf(network.MechNetem, network.MechToxiproxy))
		Expect(added).To(BeNumerically("~", want, want/10))
	}, SpecTimeout(time.Minute))

	It("network-loss drops the requested share of packets (netem or nftables)", func(ctx SpecContext) {
		const want = 0.20
		inj, f := inject(ctx, network.KindLoss, map[string]any{"percent": 20}, "model-0")
		rs := run(ctx, svcURL(ctx, "gateway"), 8*time.Second, gatewayChat(8*time.Millisecond, 3*time.Second)...)
		var seen, dropped uint64
		if l, ok := f.Concrete().(*network.Loss); ok && f.Mechanism() == network.MechNftables {
			var err error
			seen, dropped, err = l.Observed()
			Expect(err).NotTo(HaveOccurred())
		}
		revert(ctx, inj)
		observed := float64(dropped) / float64(max(seen, 1))
		fmt.Fprintf(GinkgoWriter, "MEASURE network-loss mechanism=%s requested=%.2f observed=%.3f (%d/%d packets) probe_ok=%d/%d\n", f.Mechanism(), want, observed, dropped, seen, count(rs, probe.OK), len(rs))
		AddReportEntry("network-loss requested vs observed", fmt.Sprintf("mechanism=%s requested=%.2f observed=%.3f packets=%d", f.Mechanism(), want, observed, seen))
		if f.Mechanism() == network.MechNftables {
			Expect(seen).To(BeNumerically(">", 400))
			Expect(observed).To(BeNumerically("~", want, 0.06))
		}
	}, SpecTimeout(time.Minute))

	It("network-bandwidth shapes with tbf, and doctor shows it as a live run's fault while it is on", func(ctx SpecContext) {
		inj, f := inject(ctx, network.KindBandwidth, map[string]any{"rate": "100kbit"}, "model-0")
		Expect(f.Mechanism()).To(Equal(network.MechTBF))
		// The fault's owner (this suite) still runs: doctor shows the
		// qdisc as a live run's fault in force on purpose, not a leftover.
		out, code := drill(ctx, "doctor", "--run", st.RunID())
		Expect(code).To(Equal(0), out)
		Expect(out).To(ContainSubstring("tbf"))
		Expect(out).To(ContainSubstring("LIVE"))
		revert(ctx, inj)
	}, SpecTimeout(time.Minute))

	It("network-partition cuts the service off; the gateway fails over", func(ctx SpecContext) {
		inj, _ := inject(ctx, network.KindPartition, nil, "model-0")
		Expect(status(ctx, svcURL(ctx, "model-0")+"/health")).To(Equal(0))
		rs := run(ctx, svcURL(ctx, "gateway"), 3*time.Second, gatewayChat(50*time.Millisecond, 2*time.Second)...)
		revert(ctx, inj)
		fmt.Fprintf(GinkgoWriter, "MEASURE network-partition gateway ok=%d/%d during partition of model-0\n", count(rs, probe.OK), len(rs))
	}, SpecTimeout(time.Minute))

	It("gpu-kill gives an outage of the replica, then recovery", func(ctx SpecContext) {
		inj, f := inject(ctx, gpu.KindKill, nil, "model-0")
		Eventually(ctx, func() int { return status(ctx, svcURL(ctx, "model-0")+"/health") }).WithTimeout(20*time.Second).WithPolling(20*time.Millisecond).ShouldNot(Equal(200), "outage")
		rs := run(ctx, svcURL(ctx, "gateway"), 3*time.Second, gatewayChat(50*time.Millisecond, 2*time.Second)...)
		Eventually(ctx, func() int { return status(ctx, svcURL(ctx, "model-0")+"/health") }).WithTimeout(90*time.Second).WithPolling(100*time.Millisecond).Should(Equal(200), "recovery")
		revert(ctx, inj)
		fmt.Fprintf(GinkgoWriter, "MEASURE gpu-kill mechanism=%s gateway ok=%d/%d during the outage of model-0\n", f.Mechanism(), count(rs, probe.OK), len(rs))
	}, SpecTimeout(2*time.Minute))

	It("gpu-hang gives timeouts while /health stays 200", func(ctx SpecContext) {
		inj, _ := inject(ctx, gpu.KindHang, nil, "model-0")
		rs := run(ctx, svcURL(ctx, "model-0"), 2*time.Second, modelChat(200*time.Millisecond, time.Second)...)
		Expect(status(ctx, svcURL(ctx, "model-0")+"/health")).To(Equal(200))
		revert(ctx, inj)
		Expect(count(rs, probe.Timeout)).To(BeNumerically(">", len(rs)/2), "timeouts while hung")
		Expect(count(rs, probe.OK)).To(BeZero())
	}, SpecTimeout(time.Minute))

	It("disk-corrupt makes the replica refuse to reload", func(ctx SpecContext) {
		inj, f := inject(ctx, disk.KindCorrupt, map[string]any{"volume": "models"}, "model-1")
		fmt.Fprintf(GinkgoWriter, "corrupted %s\n", f.Concrete().(interface{ File() string }).File())
		restart(ctx, "model-1")
		Eventually(ctx, func() string { _, b := body(ctx, svcURL(ctx, "model-1")+"/health"); return b }).
			WithTimeout(60 * time.Second).WithPolling(200 * time.Millisecond).Should(ContainSubstring("load failed"))
		revert(ctx, inj)
		restart(ctx, "model-1")
	}, SpecTimeout(3*time.Minute))

	for _, kind := range []string{disk.KindReadOnly, disk.KindFull} {
		It(kind+" gives write errors in the gateway", func(ctx SpecContext) {
			inj, f := inject(ctx, kind, map[string]any{"volume": "data"}, "gateway")
			fmt.Fprintf(GinkgoWriter, "%s mechanism=%s\n", kind, f.Mechanism())
			url := svcURL(ctx, "gateway")
			// The gateway's spend-log writes must fail: its readiness reports
			// the database error (or the gateway stops answering when the
			// error is fatal to it).
			var rs []probe.Result
			Eventually(ctx, func() string {
				rs = append(rs, run(ctx, url, 500*time.Millisecond, gatewayChat(20*time.Millisecond, 2*time.Second)...)...)
				_, b := body(ctx, url+"/health/readiness")
				return b
			}).WithTimeout(30 * time.Second).Should(Or(ContainSubstring("db_error"), ContainSubstring("connection refused")))
			_, b := body(ctx, url+"/health/readiness")
			fmt.Fprintf(GinkgoWriter, "MEASURE %s mechanism=%s gateway readiness during fault: %s (probe ok %d/%d)\n", kind, f.Mechanism(), b, count(rs, probe.OK), len(rs))
			revert(ctx, inj)
			Eventually(ctx, func() int {
				run(ctx, svcURL(ctx, "gateway"), 300*time.Millisecond, gatewayChat(20*time.Millisecond, 2*time.Second)...)
				c, _ := gatewayReadiness(ctx)
				return c
			}).WithTimeout(60 * time.Second).Should(Equal(200))
		}, SpecTimeout(2*time.Minute))
	}

	It("disk-wipe empties the volume; the revert restores every file", func(ctx SpecContext) {
		vol, err := st.Volume(ctx, "model-1", stack.VolumeModels)
		Expect(err).NotTo(HaveOccurred())
		before := listing(vol.HostPath)
		Expect(before).NotTo(BeEmpty())
		inj, _ := inject(ctx, disk.KindWipe, map[string]any{"volume": "models"}, "model-1")
		Expect(listing(vol.HostPath)).To(BeEmpty())
		revert(ctx, inj)
		Expect(listing(vol.HostPath)).To(Equal(before))
	}, SpecTimeout(time.Minute))

	It("container-pause gives timeouts", func(ctx SpecContext) {
		inj, _ := inject(ctx, container.KindPause, nil, "model-0")
		rs := run(ctx, svcURL(ctx, "model-0"), time.Second, modelChat(200*time.Millisecond, 500*time.Millisecond)...)
		revert(ctx, inj)
		Expect(count(rs, probe.OK)).To(BeZero())
		Expect(count(rs, probe.Timeout)).To(BeNumerically(">", 0))
	}, SpecTimeout(time.Minute))

	for _, tc := range []struct {
		kind   string
		params map[string]any
	}{
		{container.KindKill, map[string]any{"signal": "KILL"}},
		{container.KindStop, map[string]any{"timeout": "1s"}},
		{container.KindRestart, map[string]any{"timeout": "1s"}},
		{container.KindRemove, nil},
	} {
		It(tc.kind+" takes the replica down and the revert brings it back", func(ctx SpecContext) {
			url := svcURL(ctx, "model-1")
			inj, _ := inject(ctx, tc.kind, tc.params, "model-1")
			if tc.kind != container.KindRestart {
				Expect(status(ctx, url+"/health")).NotTo(Equal(200))
			}
			revert(ctx, inj)
		}, SpecTimeout(2*time.Minute))
	}
})

// restart restarts a service's container through the chaos package and
// waits for it to be running again (not necessarily healthy).
func restart(ctx context.Context, name string) {
	GinkgoHelper()
	f := plan(container.KindRestart, map[string]any{"timeout": "1s"}, name)
	g, _ := chaos.NewGuard()
	_, err := g.Run(ctx, f, nil)
	Expect(err).NotTo(HaveOccurred())
}

func listing(dir string) []string {
	var out []string
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, fmt.Sprintf("%s %d %v", rel, info.Size(), info.Mode()))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

var _ = strings.Contains
