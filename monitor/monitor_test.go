package monitor

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/aiuptime/aiuptime/monitor/rules"
	"github.com/aiuptime/aiuptime/slo"
	"github.com/aiuptime/aiuptime/units"
)

func TestMissingBinaryTellsHowToInstall(t *testing.T) {
	_, err := StartPrometheus(context.Background(), []Target{{Service: "gateway", Role: "gateway", Addr: "127.0.0.1:1"}},
		WithPrometheus("/nonexistent/prometheus"))
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "apt-get install prometheus") {
		t.Fatalf("err = %v; want ErrNotInstalled saying apt-get install prometheus", err)
	}
	_, err = StartAlertmanager(context.Background(), WithAlertmanagerBinary("/nonexistent/alertmanager"))
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "apt-get install prometheus-alertmanager") {
		t.Fatalf("err = %v; want ErrNotInstalled saying apt-get install prometheus-alertmanager", err)
	}
}

func TestCheckRulesNamesRejectedRule(t *testing.T) {
	res, err := rules.Generate(rules.Spec{SLO: availability(0.999), Scale: 720})
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckRules(t.Context(), res.File); err != nil {
		t.Fatalf("generated rules rejected: %v", err)
	}
	f := res.File
	f.Groups = append(f.Groups, rules.Group{Name: "extra", Rules: []rules.Rule{
		{Alert: "FineAlert", Expr: `up == 0`},
		{Alert: "BrokenAlert", Expr: `sum(rate(up[5m]) > `},
	}})
	err = CheckRules(t.Context(), f)
	var re *RuleError
	if !errors.As(err, &re) || !errors.Is(err, ErrRejected) {
		t.Fatalf("err = %v; want *RuleError", err)
	}
	if len(re.Rules) != 1 || re.Rules[0] != "extra/BrokenAlert" || !strings.Contains(err.Error(), "BrokenAlert") {
		t.Fatalf("rejected rules %v, err %q; want exactly extra/BrokenAlert", re.Rules, err)
	}
	// StartPrometheus refuses to start with it, with the same error.
	p, err := StartPrometheus(t.Context(), []Target{{Service: "gateway", Role: "gateway", Addr: "127.0.0.1:1"}}, WithRules(f))
	if p != nil {
		t.Cleanup(func() { _ = p.Close() })
	}
	if !errors.As(err, &re) || re.Rules[0] != "extra/BrokenAlert" {
		t.Fatalf("StartPrometheus err = %v; want the rule error", err)
	}
}

// TestGeneratedRulesPassPromtool writes the rule file and its generated
// unit tests for the default selectors and for a customer's (regular
// expressions, namespace, another scrape interval and for:), then runs the
// real `promtool check rules` and `promtool test rules` on them. A rule file
// whose selectors no longer match the tests' series must fail the tests.
func TestGeneratedRulesPassPromtool(t *testing.T) {
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Skip("promtool not installed (apt-get install prometheus, or make deps): generated rule tests not run")
	}
	p99 := slo.Spec{Availability: pct(0.99), LatencyP99: units.Duration(500 * time.Millisecond)}
	for _, tc := range []struct {
		name string
		spec rules.Spec
		// mutate breaks the rule file so that a generated test must fail.
		mutate [2]string
	}{
		{"defaults", rules.Spec{SLO: availability(0.999), Scale: 720}, [2]string{`job="litellm"`, `job="aiuptime-gateway"`}},
		{"defaults with latency SLO", rules.Spec{Name: "chat", SLO: slo.Spec{Availability: pct(0.999), LatencyP95: units.Duration(2 * time.Second)},
			Scale: 720, LatencyBucket: 2.5}, [2]string{`2\\\\.50*`, `5`}}, // the latency SLI bucket, as YAML escapes it
		{"customer selectors", rules.Spec{
			Name: "prod", SLO: p99, Scale: 720, LatencyBucket: 0.5, ScrapeInterval: 2 * time.Second, ForScrapes: 2,
			Thresholds: rules.Thresholds{Availability: 0.995, ErrorRate: 0.02, LatencyP95: 800 * time.Millisecond},
			Selectors: rules.Selectors{
				Gateway: rules.Selector{Namespace: "ai-(prod|staging)", Instance: "litellm-[0-9]+:4000"},
				Model:   rules.Selector{Job: "vllm-[a-z]+", Namespace: "ai-prod"},
			},
			RunbookURL: "https://runbooks.example/ai",
		}, [2]string{`namespace="ai-prod"`, `namespace="ai-dev"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := rules.Generate(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			rp, tp, notes, err := rules.WriteFiles(dir, tc.spec, res)
			if err != nil {
				t.Fatal(err)
			}
			if len(notes) > 0 {
				t.Errorf("test notes %v: every alert should be shown to fire", notes)
			}
			if err := CheckRuleFile(t.Context(), rp); err != nil {
				t.Fatalf("promtool check rules: %v", err)
			}
			if err := TestRules(t.Context(), tp); err != nil {
				tb, _ := os.ReadFile(tp)
				t.Fatalf("promtool test rules: %v\n--- %s:\n%s", err, tp, tb)
			}
			rb, err := os.ReadFile(rp)
			if err != nil {
				t.Fatal(err)
			}
			broken := strings.ReplaceAll(string(rb), tc.mutate[0], tc.mutate[1])
			if broken == string(rb) {
				t.Fatalf("mutation %q not found in the rule file", tc.mutate[0])
			}
			if err := os.WriteFile(rp, []byte(broken), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := TestRules(t.Context(), tp); !errors.Is(err, ErrTestsFailed) {
				t.Fatalf("rules with %s -> %s: err = %v, want ErrTestsFailed", tc.mutate[0], tc.mutate[1], err)
			}
		})
	}
}

// exporter is a real HTTP /metrics endpoint on 127.0.0.1 that the test
// drives: the source of metrics, not the thing under test.
type exporter struct {
	reg  *prometheus.Registry
	addr string
	srv  *http.Server
}

func startExporter(t *testing.T, reg *prometheus.Registry, addr string) *exporter {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	e := &exporter{reg: reg, addr: l.Addr().String(),
		srv: &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: time.Second}}
	go func() { _ = e.srv.Serve(l) }()
	t.Cleanup(e.stop)
	return e
}

func (e *exporter) stop() { _ = e.srv.Close() }

type gatewayMetrics struct {
	total, failed prometheus.Counter
	latency       prometheus.Histogram
}

func newGatewayRegistry() (*prometheus.Registry, *gatewayMetrics) {
	reg := prometheus.NewRegistry()
	m := &gatewayMetrics{
		total:   prometheus.NewCounter(prometheus.CounterOpts{Name: "litellm_proxy_total_requests_metric_total", Help: "t"}),
		failed:  prometheus.NewCounter(prometheus.CounterOpts{Name: "litellm_proxy_failed_requests_metric_total", Help: "f"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "litellm_request_total_latency_metric", Help: "l", Buckets: []float64{0.1, 0.5, 1, 2.5, 5, 10}}),
	}
	reg.MustRegister(m.total, m.failed, m.latency)
	return reg, m
}

func newModelRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vllm:num_requests_running", Help: "r"}, func() float64 { return 0 }))
	return reg
}

// TestPrometheusAlertsEndToEnd starts a real Prometheus and Alertmanager
// scraping two exporters and checks the alert path: engine down fires and
// resolves, a 50 % error ratio fires the burn-rate page and reaches the
// webhook receiver, and QuerySLO reads the counters' increase.
func TestPrometheusAlertsEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	greg, gm := newGatewayRegistry()
	gw := startExporter(t, greg, "")
	model := startExporter(t, newModelRegistry(), "")

	am, err := StartAlertmanager(ctx)
	if am != nil {
		t.Cleanup(func() { _ = am.Close() })
	}
	if err != nil {
		t.Fatal(err)
	}
	res, err := rules.Generate(rules.Spec{SLO: availability(0.99), Scale: 720})
	if err != nil {
		t.Fatal(err)
	}
	p, err := StartPrometheus(ctx, []Target{
		{Service: "gateway", Role: rules.RoleGateway, Addr: gw.addr},
		{Service: "model-0", Role: rules.RoleModel, Addr: model.addr},
	}, WithRules(res.File), WithAlertmanagerURL(am.URL()))
	if p != nil {
		t.Cleanup(func() { _ = p.Close() })
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AwaitTargetsUp(ctx); err != nil {
		t.Fatal(err)
	}
	if v, err := p.Version(ctx); err != nil || v == "" {
		t.Fatalf("version %q, %v", v, err)
	}
	watch := p.WatchAlerts(ctx, time.Now())

	// Engine down: the model server stops answering.
	model.stop()
	down := time.Now()
	fired, err := p.AwaitFiring(ctx, rules.AlertEngineDown, 20*time.Second, Match{"service", "model-0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("engine down -> firing after %s", fired.ObservedAt.Sub(down))
	startExporter(t, newModelRegistry(), model.addr)
	up := time.Now()
	resolved, err := p.AwaitResolved(ctx, rules.AlertEngineDown, 20*time.Second, Match{"service", "model-0"})
	if err != nil {
		t.Fatal(err)
	}
	rec := NewAlertRecord(down, fired, resolved)
	if rec.Delay <= 0 || !rec.ResolvedAt.After(rec.FiredAt) {
		t.Fatalf("record %+v", rec)
	}
	t.Logf("restart -> resolved after %s", resolved.ObservedAt.Sub(up))
	if _, err := am.AwaitNotification(ctx, rules.AlertEngineDown, "resolved", 20*time.Second); err != nil {
		t.Fatal(err)
	}

	// Errors: 50 % of a bounded stream of requests fail.
	from := time.Now()
	var sent atomic.Int64
	trafficCtx, stopTraffic := context.WithCancel(ctx)
	defer stopTraffic()
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 1500; i++ { // at most 30 s
			select {
			case <-trafficCtx.Done():
				return
			case <-tick.C:
			}
			gm.total.Inc()
			gm.latency.Observe(0.3)
			if i%2 == 1 {
				gm.failed.Inc()
			}
			sent.Add(1)
		}
	}()
	page, err := p.AwaitFiring(ctx, rules.AlertErrorBudgetBurnPage, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("burn page %+v", page)
	if _, err := p.AwaitFiring(ctx, rules.AlertHighErrorRate, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	n, err := am.AwaitNotification(ctx, rules.AlertErrorBudgetBurnPage, "firing", 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if n.Labels["severity"] != "page" {
		t.Errorf("notification labels %v", n.Labels)
	}
	// Keep the traffic for at least 5 scrapes, so the window holds samples.
	select {
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	case <-time.After(time.Until(from.Add(5 * time.Second))):
	}
	stopTraffic()
	to := time.Now()
	view, err := awaitView(ctx, p, from, to)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sent %d, prometheus view %+v", sent.Load(), view)
	if view.Requests <= 0 || math.Abs(view.ErrorRate-0.5) > 0.1 || !view.P95OK || view.P95 <= 100*time.Millisecond || view.P95 > 500*time.Millisecond {
		t.Errorf("view %+v; want error rate ~0.5 and p95 in (0.1, 0.5]s", view)
	}
	recs := watch.Stop()
	names := map[string]bool{}
	for _, r := range recs {
		names[r.Name] = true
	}
	if !names[rules.AlertEngineDown] || !names[rules.AlertErrorBudgetBurnPage] {
		t.Errorf("watch records %+v lack engine down or burn page", recs)
	}
}

// awaitView queries until the window's last scrape is in (Prometheus ingests
// asynchronously), bounded by ctx.
func awaitView(ctx context.Context, p *Prometheus, from, to time.Time) (PromView, error) {
	for {
		v, err := p.QuerySLO(ctx, from, to, rules.Metrics{})
		if err != nil || v.Requests > 0 {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func pct(f float64) *units.Percent { p := units.Percent(f); return &p }

func availability(f float64) slo.Spec { return slo.Spec{Availability: pct(f)} }
