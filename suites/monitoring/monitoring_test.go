package monitoring_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aiuptime/aiuptime/monitor"
	"github.com/aiuptime/aiuptime/monitor/rules"
	"github.com/aiuptime/aiuptime/slo"
	"github.com/aiuptime/aiuptime/suites/internal/suitekit"
	"github.com/aiuptime/aiuptime/units"
)

const (
	modelName = "tiny-chat"
	alias     = "chat"
	masterKey = "sk-monitoring-suite-key"
	// engineProcessName is the fixture engine's argv[0] (vLLM: VLLM::EngineCore).
	engineProcessName = "aiuptime::EngineCore"
)

// binaries finds the fixture binaries in $AIUPTIME_BIN (make fixtures) or
// builds them into a temp dir.
func binaries(ctx context.Context, dir string) (modelserver, gateway string) {
	if bin := os.Getenv("AIUPTIME_BIN"); bin != "" {
		ms, gw := filepath.Join(bin, "aiuptime-modelserver"), filepath.Join(bin, "aiuptime-gateway")
		if _, err := os.Stat(ms); err == nil {
			if _, err := os.Stat(gw); err == nil {
				return ms, gw
			}
		}
	}
	root := moduleRoot()
	for _, pkg := range []string{"./fixtures/modelserver/cmd/aiuptime-modelserver", "./fixtures/gateway/cmd/aiuptime-gateway"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+"/", pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "go build %s: %s", pkg, out)
	}
	return filepath.Join(dir, "aiuptime-modelserver"), filepath.Join(dir, "aiuptime-gateway")
}

func moduleRoot() string {
	wd, err := os.Getwd()
	Expect(err).NotTo(HaveOccurred())
	for d := wd; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	Fail("no go.mod above " + wd)
	return ""
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// hostProc is a fixture started as a host process in its own process group.
type hostProc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once
}

// started holds every process the suite started; AfterSuite stops them all,
// whatever the order in which failed specs ran their cleanups.
var (
	startedMu sync.Mutex
	started   []*hostProc
)

var _ = AfterSuite(func() {
	startedMu.Lock()
	defer startedMu.Unlock()
	for _, h := range started {
		h.stop()
	}
})

func startHost(name, bin string, args ...string) *hostProc {
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = GinkgoWriter, GinkgoWriter
	// Own process group; killed with the suite process if it dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	Expect(cmd.Start()).To(Succeed(), "start %s", name)
	h := &hostProc{name: name, cmd: cmd, done: make(chan struct{})}
	startedMu.Lock()
	started = append(started, h)
	startedMu.Unlock()
	go func() { _ = cmd.Wait(); close(h.done) }()
	return h
}

// stop kills the whole process group (server and engine) and waits. Idempotent.
func (h *hostProc) stop() {
	h.once.Do(func() {
		_ = syscall.Kill(-h.cmd.Process.Pid, syscall.SIGKILL)
		<-h.done
	})
}

func (h *hostProc) exited() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

// enginePID finds the engine child of a model server by its argv[0].
func enginePID(serverPID int) (int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		rest := string(stat[bytes.LastIndexByte(stat, ')')+2:])
		f := strings.Fields(rest)
		if len(f) < 2 || f[1] != strconv.Itoa(serverPID) {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && strings.HasPrefix(string(cmdline), engineProcessName+"\x00") {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no %s child of pid %d", engineProcessName, serverPID)
}

func httpOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
	return nil
}

// chat sends one tiny completion with a deadline: the probe-side check.
func chat(ctx context.Context, base, key, model string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"ping"}],"max_tokens":4}`, model)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// load sends at most n requests through the gateway, one every interval,
// at most conc in flight, until ctx ends. It returns sent and failed counts.
func load(ctx context.Context, base string, n int, interval time.Duration, conc int) (sent, failed int64) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, conc)
	var s, f atomic.Int64
	tick := time.NewTicker(interval)
	defer tick.Stop()
loop:
	for i := 0; i < n; i++ {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
		}
		select {
		case sem <- struct{}{}:
		default:
			continue // at the cap: skip this slot, stay bounded
		}
		wg.Add(1)
		s.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := chat(context.WithoutCancel(ctx), base, masterKey, alias, 10*time.Second); err != nil {
				f.Add(1)
			}
		}()
	}
	wg.Wait()
	return s.Load(), f.Load()
}

// notifierStats is Prometheus's own notification counters, for failure messages.
func notifierStats(ctx context.Context, base string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "prometheus_notifications_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "; ")
}

// firedFor watches for a bounded time which alerts fire for a service and
// returns their names (an observation window: nothing firing is a result).
func firedFor(ctx context.Context, prom *monitor.Prometheus, service string, d time.Duration) []string {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	seen := map[string]bool{}
	for ctx.Err() == nil {
		alerts, err := prom.Alerts(ctx)
		if err == nil {
			for _, a := range alerts {
				if string(a.Labels["service"]) == service && a.State == "firing" {
					seen[string(a.Labels["alertname"])] = true
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	var out []string
	for n := range seen {
		out = append(out, n)
	}
	return out
}

type modelServer struct {
	name string
	port int
	proc *hostProc
}

func (m *modelServer) url() string { return "http://127.0.0.1:" + strconv.Itoa(m.port) }

var _ = Describe("Monitoring with a real Prometheus", Ordered, Label("monitoring", "prometheus", "integration"), func() {
	var (
		tmp          string
		msBin, gwBin string
		modelDir     string
		models       []*modelServer
		gateway      *hostProc
		gatewayURL   string
		prom         *monitor.Prometheus
		am           *monitor.Alertmanager
		spec         rules.Spec
	)

	startModel := func(ctx context.Context, m *modelServer, extra ...string) {
		args := append([]string{"serve", "--model-dir", modelDir, "--host", "127.0.0.1", "--port", strconv.Itoa(m.port),
			"--run-dir", filepath.Join(tmp, "run-"+m.name), "--engine-restart", "never", "--watchdog", "1s",
			"--ttft", "5ms", "--itl", "2ms"}, extra...)
		m.proc = startHost(m.name, msBin, args...)
		Eventually(func() error {
			if m.proc.exited() {
				return StopTrying(m.name + " exited")
			}
			return httpOK(ctx, m.url()+"/health")
		}).WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(50 * time.Millisecond).Should(Succeed())
	}

	BeforeAll(func(ctx SpecContext) {
		tmp = GinkgoT().TempDir()
		msBin, gwBin = binaries(ctx, tmp)
		modelDir = filepath.Join(tmp, "model")
		out, err := exec.CommandContext(ctx, msBin, "gen-model", "--dir", modelDir, "--name", modelName,
			"--version", "1", "--size", "64KiB").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "gen-model: %s", out)

		models = []*modelServer{{name: "model-0", port: freePort()}, {name: "model-1", port: freePort()}}
		// Specs restart model servers: stop whichever process each has at the end.
		DeferCleanup(func() {
			for _, m := range models {
				if m.proc != nil {
					m.proc.stop()
				}
			}
		})
		for _, m := range models {
			startModel(ctx, m)
		}

		var cfg strings.Builder
		cfg.WriteString("model_list:\n")
		for _, m := range models {
			fmt.Fprintf(&cfg, "  - model_name: %s\n    litellm_params: {model: hosted_vllm/%s, api_base: %s/v1, api_key: none, weight: 1}\n    model_info: {id: %s}\n",
				alias, modelName, m.url(), m.name)
		}
		// No retries, and cooldown only after many failures: the error-rate
		// fault must reach the gateway's error counter.
		fmt.Fprintf(&cfg, "router_settings: {num_retries: 0, allowed_fails: 1000, cooldown_time: 1}\n")
		fmt.Fprintf(&cfg, "general_settings: {master_key: %s, database_path: %s}\n", masterKey, filepath.Join(tmp, "gateway.db"))
		cfgPath := filepath.Join(tmp, "gateway.yaml")
		Expect(os.WriteFile(cfgPath, []byte(cfg.String()), 0o600)).To(Succeed())
		gwPort := freePort()
		gatewayURL = "http://127.0.0.1:" + strconv.Itoa(gwPort)
		gateway = startHost("gateway", gwBin, "--config", cfgPath, "--port", strconv.Itoa(gwPort))
		DeferCleanup(gateway.stop)
		Eventually(func() error { return httpOK(ctx, gatewayURL+"/health/readiness") }).
			WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(50 * time.Millisecond).Should(Succeed())

		am, err = monitor.StartAlertmanager(ctx, monitor.WithLogger(suitekit.Logger()))
		if am != nil {
			DeferCleanup(am.Close)
		}
		Expect(err).NotTo(HaveOccurred())

		avail99 := units.Percent(0.99)
		spec = rules.Spec{
			Name: "gateway", SLO: slo.Spec{Availability: &avail99, LatencyP99: units.Duration(500 * time.Millisecond)},
			Scale: 720,
		}
		res, err := rules.Generate(spec)
		Expect(err).NotTo(HaveOccurred())
		targets := []monitor.Target{{Service: "gateway", Role: rules.RoleGateway, Addr: "127.0.0.1:" + strconv.Itoa(gwPort)}}
		for _, m := range models {
			targets = append(targets, monitor.Target{Service: m.name, Role: rules.RoleModel, Addr: "127.0.0.1:" + strconv.Itoa(m.port)})
		}
		prom, err = monitor.StartPrometheus(ctx, targets, monitor.WithRules(res.File),
			monitor.WithAlertmanagerURL(am.URL()), monitor.WithLogger(suitekit.Logger()))
		if prom != nil {
			DeferCleanup(prom.Close)
		}
		Expect(err).NotTo(HaveOccurred())
		Expect(prom.AwaitTargetsUp(ctx)).To(Succeed())

		// Warm-up traffic, so the latency histogram exposes its buckets; then
		// choose the latency SLI bucket from what is exposed and reload.
		sent, failed := load(ctx, gatewayURL, 20, 20*time.Millisecond, 4)
		Expect(failed).To(BeZero(), "warm-up: %d of %d failed", failed, sent)
		var bounds []float64
		Eventually(func() ([]float64, error) {
			var err error
			bounds, err = prom.HistogramBuckets(ctx, rules.DefaultMetrics.Latency)
			return bounds, err
		}).WithContext(ctx).WithTimeout(10 * time.Second).WithPolling(200 * time.Millisecond).ShouldNot(BeEmpty())
		spec.LatencyBucket, err = rules.PickBucket(bounds, spec.SLO.LatencyP99.D())
		Expect(err).NotTo(HaveOccurred())
		res, err = rules.Generate(spec)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.File.Alerts()).To(ContainElement(rules.AlertLatencyBudgetBurnPage))
		Expect(prom.SetRules(ctx, res.File)).To(Succeed())
		AddReportEntry("rule notes", strings.Join(res.Notes, "\n"))
	}, NodeTimeout(5*time.Minute))

	It("checks the generated rules with promtool, runs their generated unit tests and names a rule it rejects", func(ctx SpecContext) {
		res, err := rules.Generate(spec)
		Expect(err).NotTo(HaveOccurred())
		Expect(monitor.CheckRules(ctx, res.File)).To(Succeed())
		// The rules select the jobs this Prometheus scrapes, never the role label.
		b, err := res.File.YAML()
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).To(ContainSubstring(`job="` + monitor.JobFor(rules.RoleGateway) + `"`))
		Expect(string(b)).To(ContainSubstring(`job="` + monitor.JobFor(rules.RoleModel) + `"`))
		Expect(string(b)).NotTo(ContainSubstring(rules.LabelRole + "="))
		_, tests, notes, err := rules.WriteFiles(GinkgoT().TempDir(), spec, res)
		Expect(err).NotTo(HaveOccurred())
		Expect(notes).To(BeEmpty())
		Expect(monitor.TestRules(ctx, tests)).To(Succeed())
		for i, r := range res.File.Groups[0].Rules {
			if r.Alert == rules.AlertDeploymentCooldown {
				res.File.Groups[0].Rules[i].Expr = "rate(litellm_deployment_state[5s]" // unbalanced
			}
		}
		err = monitor.CheckRules(ctx, res.File)
		var re *monitor.RuleError
		Expect(errors.As(err, &re)).To(BeTrue(), "err %v", err)
		Expect(re.Rules).To(Equal([]string{"aiuptime-direct/" + rules.AlertDeploymentCooldown}))
	}, SpecTimeout(5*time.Minute)) // the first spec also runs BeforeAll (which may build the fixtures)

	It("fires engine-down when a model server's engine is killed and resolves after restart", func(ctx SpecContext) {
		m := models[0]
		pid, err := enginePID(m.proc.cmd.Process.Pid)
		Expect(err).NotTo(HaveOccurred())
		faultAt := time.Now()
		Expect(syscall.Kill(pid, syscall.SIGKILL)).To(Succeed())
		fired, err := prom.AwaitFiring(ctx, rules.AlertEngineDown, 30*time.Second, monitor.Match{Label: "service", Value: m.name})
		Expect(err).NotTo(HaveOccurred())
		// --engine-restart never: the server exits (after --watchdog); restart it like a supervisor would.
		Eventually(m.proc.done).WithTimeout(10 * time.Second).Should(BeClosed())
		m.proc.stop()
		restartAt := time.Now()
		startModel(ctx, m)
		resolved, err := prom.AwaitResolved(ctx, rules.AlertEngineDown, 30*time.Second, monitor.Match{Label: "service", Value: m.name})
		Expect(err).NotTo(HaveOccurred())
		rec := monitor.NewAlertRecord(faultAt, fired, resolved)
		AddReportEntry("engine-down alert", fmt.Sprintf("fault->firing %.2fs (pending since %.2fs), restart->resolved %.2fs",
			rec.Delay.Seconds(), fired.ActiveAt.Sub(faultAt).Seconds(), resolved.ObservedAt.Sub(restartAt).Seconds()))

		n, err := am.AwaitNotification(ctx, rules.AlertEngineDown, "firing", 20*time.Second)
		Expect(err).NotTo(HaveOccurred(), "received %+v; prometheus notifier: %s", am.Notifications(), notifierStats(ctx, prom.URL()))
		Expect(n.Labels).To(HaveKeyWithValue("service", m.name))
		_, err = am.AwaitNotification(ctx, rules.AlertEngineDown, "resolved", 20*time.Second)
		Expect(err).NotTo(HaveOccurred())
	}, SpecTimeout(2*time.Minute))

	It("fires the error-rate and burn-rate alerts on a 50% error release behind the gateway", func(ctx SpecContext) {
		m := models[1]
		m.proc.stop()
		startModel(ctx, m, "--error-rate", "0.5")
		DeferCleanup(func(ctx SpecContext) { // revert: the good release
			m.proc.stop()
			startModel(ctx, m)
		}, NodeTimeout(time.Minute))
		Expect(prom.AwaitResolved(ctx, rules.AlertEngineDown, 20*time.Second)).Error().NotTo(HaveOccurred())

		faultAt := time.Now()
		lctx, stop := context.WithCancel(ctx)
		defer stop()
		var sent, failed int64
		done := make(chan struct{})
		go func() { defer close(done); sent, failed = load(lctx, gatewayURL, 600, 25*time.Millisecond, 8) }() // <= 15 s
		var recs []monitor.AlertRecord
		for _, name := range []string{rules.AlertHighErrorRate, rules.AlertErrorBudgetBurnPage} {
			ev, err := prom.AwaitFiring(ctx, name, 20*time.Second)
			Expect(err).NotTo(HaveOccurred())
			recs = append(recs, monitor.NewAlertRecord(faultAt, ev, monitor.AlertEvent{}))
		}
		// At least 5 s of traffic, so Prometheus's window holds enough scrapes.
		Eventually(ctx, func() time.Time { return time.Now() }).WithPolling(100 * time.Millisecond).
			WithTimeout(10 * time.Second).Should(BeTemporally(">", faultAt.Add(5*time.Second)))
		stop()
		<-done
		view, err := prom.QuerySLO(ctx, faultAt, time.Now(), rules.Metrics{})
		Expect(err).NotTo(HaveOccurred())
		probeErr := float64(failed) / float64(max(sent, 1))
		js, err := json.Marshal(recs)
		Expect(err).NotTo(HaveOccurred())
		AddReportEntry("error-rate alerts", fmt.Sprintf("%s; probe: %d sent, error rate %.3f; prometheus: %.0f requests, error rate %.3f",
			js, sent, probeErr, view.Requests, view.ErrorRate))
		Expect(failed).To(BeNumerically(">", 0))
		Expect(view.ErrorRate).To(BeNumerically(">", 0.05))
	}, SpecTimeout(2*time.Minute))

	It("fires the latency burn-rate alert on a slow release", func(ctx SpecContext) {
		m := models[1]
		m.proc.stop()
		startModel(ctx, m, "--extra-latency", "1s")
		DeferCleanup(func(ctx SpecContext) {
			m.proc.stop()
			startModel(ctx, m)
		}, NodeTimeout(time.Minute))
		faultAt := time.Now()
		lctx, stop := context.WithCancel(ctx)
		defer stop()
		done := make(chan struct{})
		go func() { defer close(done); load(lctx, gatewayURL, 400, 50*time.Millisecond, 16) }() // <= 20 s
		ev, err := prom.AwaitFiring(ctx, rules.AlertLatencyBudgetBurnPage, 25*time.Second)
		Expect(err).NotTo(HaveOccurred())
		stop()
		<-done
		AddReportEntry("latency burn alert", fmt.Sprintf("fault->firing %.2fs (bucket le=%v for threshold %s)",
			ev.ObservedAt.Sub(faultAt).Seconds(), spec.LatencyBucket, spec.SLO.LatencyP99.D()))
	}, SpecTimeout(2*time.Minute))

	It("catches a hung engine with the probe and records whether metric alerts did", func(ctx SpecContext) {
		m := models[0]
		pid, err := enginePID(m.proc.cmd.Process.Pid)
		Expect(err).NotTo(HaveOccurred())
		Expect(chat(ctx, m.url(), "", modelName, 5*time.Second)).To(Succeed(), "healthy before the hang")
		Expect(syscall.Kill(pid, syscall.SIGSTOP)).To(Succeed())
		DeferCleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
		hungAt := time.Now()

		// The probe's view: a real completion with a deadline fails, while /health says 200.
		Expect(chat(ctx, m.url(), "", modelName, 2*time.Second)).NotTo(Succeed())
		healthErr := httpOK(ctx, m.url()+"/health")
		probeCaught := time.Since(hungAt)

		// Prometheus's view while the engine is idle (no traffic but that one
		// probe), over a bounded observation window: which alert names model-0?
		idle := firedFor(ctx, prom, m.name, 8*time.Second)

		// And under probe traffic (one 2 s-deadline completion every 250 ms,
		// at most 60): requests pile up in flight while no token comes out.
		lctx, stop := context.WithCancel(ctx)
		defer stop()
		done := make(chan struct{})
		go func() {
			defer close(done)
			var wg sync.WaitGroup
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			for i := 0; i < 60; i++ {
				select {
				case <-lctx.Done():
					wg.Wait()
					return
				case <-tick.C:
				}
				wg.Add(1)
				go func() { defer wg.Done(); _ = chat(lctx, m.url(), "", modelName, 2*time.Second) }()
			}
			wg.Wait()
		}()
		trafficAt := time.Now()
		stalled, stallErr := prom.AwaitFiring(ctx, rules.AlertEngineStalled, 15*time.Second, monitor.Match{Label: "service", Value: m.name})
		stop()
		<-done
		underTraffic := "GAP: no metric alert under traffic within 15s"
		if stallErr == nil {
			underTraffic = fmt.Sprintf("%s fired %.2fs after traffic began", rules.AlertEngineStalled, stalled.ObservedAt.Sub(trafficAt).Seconds())
		}
		idleText := "GAP: no metric alert while idle within 8s (only the probe caught it)"
		if len(idle) > 0 {
			idleText = "while idle: " + strings.Join(idle, ", ")
		}
		AddReportEntry("hung engine", fmt.Sprintf("probe caught it after %.2fs (health during hang: %v); %s; %s",
			probeCaught.Seconds(), healthErr, idleText, underTraffic))
		// EngineDown must not claim the server is down: it still answers scrapes.
		Expect(idle).NotTo(ContainElement(rules.AlertEngineDown))
		// Recorded facts, not a verdict on the gap (the probe's failure is asserted above).
		Expect(syscall.Kill(pid, syscall.SIGCONT)).To(Succeed())
		Eventually(func() error { return chat(ctx, m.url(), "", modelName, 2*time.Second) }).
			WithContext(ctx).WithTimeout(20 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
	}, SpecTimeout(2*time.Minute))
})
