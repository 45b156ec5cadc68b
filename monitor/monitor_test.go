package monitor

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
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

// TestRuleSemanticsWithPromtool runs `promtool test rules` on the generated
// rules with synthetic series, so each alert's condition is proven on known
// inputs (annotations are dropped: they hold templated values).
func TestRuleSemanticsWithPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool: %v (apt-get install prometheus)", err)
	}
	res, err := rules.Generate(rules.Spec{
		Name: "gw", SLO: slo.Spec{Availability: pct(0.99), LatencyP95: units.Duration(time.Second)},
		Thresholds: rules.Thresholds{LatencyP95: 1500 * time.Millisecond},
		Scale:      720, LatencyBucket: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	for gi := range res.File.Groups {
		for ri := range res.File.Groups[gi].Rules {
			res.File.Groups[gi].Rules[ri].Annotations = nil
		}
	}
	dir := t.TempDir()
	if err := writeRules(filepath.Join(dir, "rules.yml"), res.File); err != nil {
		t.Fatal(err)
	}
	gw := `{job="aiuptime-gateway",instance="127.0.0.1:4000",service="gateway",role="gateway"}`
	model := func(svc, inst string) string {
		return `{job="aiuptime-model",instance="` + inst + `",service="` + svc + `",role="model"}`
	}
	type exp = map[string]any
	alert := func(at, name string, labels ...map[string]string) exp {
		var alerts []any
		for _, l := range labels {
			alerts = append(alerts, exp{"exp_labels": l})
		}
		return exp{"eval_time": at, "alertname": name, "exp_alerts": alerts}
	}
	sloLabels := func(sev, sli string) map[string]string {
		return map[string]string{"severity": sev, "slo": "gw", "sli": sli}
	}
	tests := exp{
		"rule_files":          []string{"rules.yml"},
		"evaluation_interval": "1s",
		"tests": []any{
			// 50 % errors, half of the requests slower than 1s (le="1.0" as
			// Python's client writes it), p95 in the (1, 2] bucket.
			exp{"interval": "1s", "input_series": []any{
				exp{"series": "litellm_proxy_total_requests_metric_total" + gw, "values": "0+10x120"},
				exp{"series": "litellm_proxy_failed_requests_metric_total" + gw, "values": "0+5x120"},
				exp{"series": `litellm_request_total_latency_metric_bucket{le="1.0",` + gw[1:], "values": "0+5x120"},
				exp{"series": `litellm_request_total_latency_metric_bucket{le="2.0",` + gw[1:], "values": "0+10x120"},
				exp{"series": `litellm_request_total_latency_metric_bucket{le="+Inf",` + gw[1:], "values": "0+10x120"},
				exp{"series": "litellm_request_total_latency_metric_count" + gw, "values": "0+10x120"},
			}, "alert_rule_test": []any{
				alert("10s", rules.AlertErrorBudgetBurnPage, sloLabels("page", "availability")),
				alert("10s", rules.AlertHighErrorRate, map[string]string{"severity": "page"}),
				alert("10s", rules.AlertLowAvailability, map[string]string{"severity": "page"}),
				alert("10s", rules.AlertLatencyBudgetBurnPage, sloLabels("page", "latency")),
				alert("10s", rules.AlertHighLatencyP95, map[string]string{"severity": "page"}),
				alert("10s", rules.AlertEngineDown),
			}},
			// Healthy traffic: nothing fires.
			exp{"interval": "1s", "input_series": []any{
				exp{"series": "litellm_proxy_total_requests_metric_total" + gw, "values": "0+10x120"},
				exp{"series": `litellm_request_total_latency_metric_bucket{le="1.0",` + gw[1:], "values": "0+10x120"},
				exp{"series": `litellm_request_total_latency_metric_bucket{le="+Inf",` + gw[1:], "values": "0+10x120"},
				exp{"series": "litellm_request_total_latency_metric_count" + gw, "values": "0+10x120"},
			}, "alert_rule_test": []any{
				alert("60s", rules.AlertErrorBudgetBurnPage),
				alert("60s", rules.AlertErrorBudgetBurnTicket),
				alert("60s", rules.AlertHighErrorRate),
				alert("60s", rules.AlertLatencyBudgetBurnPage),
				alert("60s", rules.AlertHighLatencyP95),
			}},
			// model-0 stops answering scrapes; model-1 answers but its engine
			// metric goes stale; the deployment of model-1 cools down.
			exp{"interval": "1s", "input_series": []any{
				exp{"series": "up" + model("model-0", "127.0.0.1:8000"), "values": "1 1 1 0 0 0 1 1 1"},
				exp{"series": "vllm:num_requests_running" + model("model-0", "127.0.0.1:8000"), "values": "0 0 0 _ _ _ 0 0 0"},
				exp{"series": "up" + model("model-1", "127.0.0.1:8001"), "values": "1 1 1 1 1 1 1 1 1"},
				exp{"series": "vllm:num_requests_running" + model("model-1", "127.0.0.1:8001"), "values": "0 0 0 stale"},
				exp{"series": `litellm_deployment_state{model_id="m1",` + gw[1:], "values": "0 0 0 1 1 0"},
			}, "alert_rule_test": []any{
				alert("2s", rules.AlertEngineDown),
				alert("4s", rules.AlertEngineDown,
					map[string]string{"severity": "page", "job": "aiuptime-model", "instance": "127.0.0.1:8000", "service": "model-0", "role": "model"},
					map[string]string{"severity": "page", "job": "aiuptime-model", "instance": "127.0.0.1:8001", "service": "model-1", "role": "model"}),
				alert("7s", rules.AlertEngineDown,
					map[string]string{"severity": "page", "job": "aiuptime-model", "instance": "127.0.0.1:8001", "service": "model-1", "role": "model"}),
				alert("4s", rules.AlertDeploymentCooldown,
					map[string]string{"severity": "ticket", "model_id": "m1", "job": "aiuptime-gateway", "instance": "127.0.0.1:4000", "service": "gateway", "role": "gateway"}),
				alert("6s", rules.AlertDeploymentCooldown),
				alert("8s", rules.AlertEngineStalled),
			}},
			// model-0 has a request in flight and makes no token for the stall
			// window (5 scrapes): stalled; model-1 is busy and generating; model-2 idle.
			exp{"interval": "1s", "input_series": []any{
				exp{"series": "vllm:num_requests_running" + model("model-0", "127.0.0.1:8000"), "values": "0 1 1 1 1 1 1 1 1 1 1 1"},
				exp{"series": "vllm:generation_tokens_total" + model("model-0", "127.0.0.1:8000"), "values": "0+0x11"},
				exp{"series": "vllm:num_requests_running" + model("model-1", "127.0.0.1:8001"), "values": "1 1 1 1 1 1 1 1 1 1 1 1"},
				exp{"series": "vllm:generation_tokens_total" + model("model-1", "127.0.0.1:8001"), "values": "0+4x11"},
				exp{"series": "vllm:num_requests_running" + model("model-2", "127.0.0.1:8002"), "values": "0 0 0 0 0 0 0 0 0 0 0 0"},
				exp{"series": "vllm:generation_tokens_total" + model("model-2", "127.0.0.1:8002"), "values": "0+0x11"},
			}, "alert_rule_test": []any{
				alert("4s", rules.AlertEngineStalled),
				alert("8s", rules.AlertEngineStalled,
					map[string]string{"severity": "page", "instance": "127.0.0.1:8000", "service": "model-0"}),
			}},
		},
	}
	b, err := yaml.Marshal(tests)
	if err != nil {
		t.Fatal(err)
	}
	testPath := filepath.Join(dir, "rules_test.yml")
	if err := os.WriteFile(testPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), promtool, "test", "rules", testPath).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s\n--- test file:\n%s", err, out, b)
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
