// Package monitor runs a real Prometheus (and optionally an Alertmanager with
// a webhook receiver inside the harness) beside the stack under test, as host
// processes on 127.0.0.1, and checks alerts and SLOs through Prometheus's HTTP
// API (prometheus/client_golang's api client).
//
// Prometheus scrapes the stack's services through their published
// 127.0.0.1 ports. The gateway's job is "litellm" and the model servers' is
// "vllm" (rules.DefaultGatewayJob, rules.DefaultModelJob: the job names of
// LiteLLM's and vLLM's example scrape configs), so the generated rules select
// the same series here as on a customer's Prometheus. Each target also gets
// the labels service and role; the rules do not select on role. Rules come
// from monitor/rules. promtool checks the configuration and the
// rules before Prometheus starts.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/aiuptime/aiuptime/monitor/rules"
	"github.com/aiuptime/aiuptime/stack"
)

// Target is one scrape target.
type Target struct {
	// Service is the stack's service name (the "service" label).
	Service string
	// Role is rules.RoleGateway or rules.RoleModel (the "role" label; the
	// job is JobFor(Role)).
	Role string
	// Addr is host:port, e.g. 127.0.0.1:8000.
	Addr string
	// MetricsPath defaults to /metrics.
	MetricsPath string
}

// TargetsFromServices maps the stack's gateway and model services to scrape
// targets at their host-reachable URLs. Other roles are skipped.
func TargetsFromServices(svcs []stack.Service) ([]Target, error) {
	var ts []Target
	for _, s := range svcs {
		if s.Role != stack.RoleGateway && s.Role != stack.RoleModel {
			continue
		}
		u, err := url.Parse(s.URL)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("service %s: url %q has no host:port", s.Name, s.URL)
		}
		ts = append(ts, Target{Service: s.Name, Role: string(s.Role), Addr: u.Host})
	}
	return ts, nil
}

// Prometheus is a running Prometheus host process with its own storage
// directory. Close stops it and removes the directory.
type Prometheus struct {
	o        *options
	url      string
	api      v1.API
	dir      string
	promtool string
	proc     *proc
	closeMu  sync.Once
	closeErr error
}

type promConfig struct {
	Global struct {
		ScrapeInterval     string `yaml:"scrape_interval"`
		ScrapeTimeout      string `yaml:"scrape_timeout"`
		EvaluationInterval string `yaml:"evaluation_interval"`
	} `yaml:"global"`
	RuleFiles     []string       `yaml:"rule_files"`
	Alerting      *alerting      `yaml:"alerting,omitempty"`
	ScrapeConfigs []scrapeConfig `yaml:"scrape_configs"`
}

type alerting struct {
	Alertmanagers []amConfig `yaml:"alertmanagers"`
}

type amConfig struct {
	APIVersion    string         `yaml:"api_version"`
	PathPrefix    string         `yaml:"path_prefix,omitempty"`
	StaticConfigs []staticConfig `yaml:"static_configs"`
}

type scrapeConfig struct {
	JobName       string         `yaml:"job_name"`
	StaticConfigs []staticConfig `yaml:"static_configs"`
}

type staticConfig struct {
	Targets []string          `yaml:"targets"`
	Labels  map[string]string `yaml:"labels,omitempty"`
}

// JobFor is the scrape job of a target role: rules.DefaultGatewayJob for the
// gateway, rules.DefaultModelJob for model servers, "aiuptime-"+role else.
func JobFor(role string) string {
	switch role {
	case rules.RoleGateway:
		return rules.DefaultGatewayJob
	case rules.RoleModel:
		return rules.DefaultModelJob
	}
	return "aiuptime-" + role
}

// Config renders the Prometheus configuration for targets (rules in
// rules.yml beside it, Alertmanager optional). Exposed for `drill` to
// print and for tests.
func Config(targets []Target, scrape time.Duration, alertmanagerURL string) ([]byte, error) {
	var c promConfig
	iv := model.Duration(scrape).String()
	c.Global.ScrapeInterval, c.Global.ScrapeTimeout, c.Global.EvaluationInterval = iv, iv, iv
	c.RuleFiles = []string{"rules.yml"}
	jobs := map[string]*scrapeConfig{}
	var order []string
	for _, t := range targets {
		if t.Service == "" || t.Role == "" {
			return nil, fmt.Errorf("target %q: service and role are required", t.Addr)
		}
		if _, _, err := net.SplitHostPort(t.Addr); err != nil {
			return nil, fmt.Errorf("target %s: addr %q: %w", t.Service, t.Addr, err)
		}
		job := JobFor(t.Role)
		sc, ok := jobs[job]
		if !ok {
			sc = &scrapeConfig{JobName: job}
			jobs[job] = sc
			order = append(order, job)
		}
		labels := map[string]string{rules.LabelService: t.Service, rules.LabelRole: t.Role}
		if t.MetricsPath != "" && t.MetricsPath != "/metrics" {
			labels[model.MetricsPathLabel] = t.MetricsPath
		}
		sc.StaticConfigs = append(sc.StaticConfigs, staticConfig{Targets: []string{t.Addr}, Labels: labels})
	}
	sort.Strings(order)
	for _, j := range order {
		c.ScrapeConfigs = append(c.ScrapeConfigs, *jobs[j])
	}
	if alertmanagerURL != "" {
		u, err := url.Parse(alertmanagerURL)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("alertmanager url %q: no host", alertmanagerURL)
		}
		c.Alerting = &alerting{Alertmanagers: []amConfig{{APIVersion: "v2", PathPrefix: u.Path,
			StaticConfigs: []staticConfig{{Targets: []string{u.Host}}}}}}
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("marshal prometheus config: %w", err)
	}
	return b, nil
}

// StartPrometheus checks the configuration and rules with promtool and starts
// Prometheus on a free 127.0.0.1 port, scraping targets. It returns when
// Prometheus is ready. On error the returned *Prometheus, when not nil, must
// still be closed.
func StartPrometheus(ctx context.Context, targets []Target, opts ...Option) (*Prometheus, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	bin, err := lookBinary("prometheus", o.prometheus, "prometheus")
	if err != nil {
		return nil, err
	}
	promtool, err := lookBinary("promtool", o.promtool, "prometheus")
	if err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return nil, errors.New("start prometheus: no targets")
	}
	dir, err := os.MkdirTemp(o.parentDir, "aiuptime-prometheus-")
	if err != nil {
		return nil, fmt.Errorf("prometheus dir: %w", err)
	}
	p := &Prometheus{o: o, dir: dir, promtool: promtool}
	cfg, err := Config(targets, o.scrape, o.alertmanagerURL)
	if err != nil {
		return p, err
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return p, fmt.Errorf("write prometheus config: %w", err)
	}
	rf := rules.File{Groups: []rules.Group{}}
	if o.rules != nil {
		rf = *o.rules
	}
	if err := checkRules(ctx, promtool, dir, rf); err != nil {
		return p, err
	}
	if err := writeRules(filepath.Join(dir, "rules.yml"), rf); err != nil {
		return p, err
	}
	if err := checkConfig(ctx, promtool, cfgPath); err != nil {
		return p, err
	}
	p.proc, p.url, err = launch(ctx, "prometheus", bin, dir, o.startTimeout, func(listen string) []string {
		return []string{
			"--config.file=" + cfgPath,
			"--storage.tsdb.path=" + filepath.Join(dir, "data"),
			"--storage.tsdb.retention.time=1d",
			"--web.listen-address=" + listen,
			"--web.enable-lifecycle",
			// Send alerts to Alertmanager on every evaluation, not once a minute.
			"--rules.alert.resend-delay=" + model.Duration(o.scrape).String(),
			"--log.level=warn",
		}
	})
	if err != nil {
		return p, err
	}
	client, err := api.NewClient(api.Config{Address: p.url})
	if err != nil {
		return p, fmt.Errorf("prometheus api client: %w", err)
	}
	p.api = v1.NewAPI(client)
	if err := p.awaitAlertmanager(ctx); err != nil {
		return p, err
	}
	o.log.Info("prometheus started", "url", p.url, "targets", len(targets), "dir", dir,
		"rule_groups", len(rf.Groups))
	return p, nil
}

// URL is Prometheus's base URL (http://127.0.0.1:PORT).
func (p *Prometheus) URL() string { return p.url }

// API is the client_golang API client bound to this Prometheus.
func (p *Prometheus) API() v1.API { return p.api }

// Dir is the working directory (config, rules, data, log).
func (p *Prometheus) Dir() string { return p.dir }

// SetRules checks f with promtool, replaces the rule file and reloads
// Prometheus (used once the latency buckets are known).
func (p *Prometheus) SetRules(ctx context.Context, f rules.File) error {
	if err := checkRules(ctx, p.promtool, p.dir, f); err != nil {
		return err
	}
	if err := writeRules(filepath.Join(p.dir, "rules.yml"), f); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/-/reload", nil)
	if err != nil {
		return fmt.Errorf("reload request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reload prometheus: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reload prometheus: status %d: %s", resp.StatusCode, p.proc.logTail())
	}
	return p.awaitAlertmanager(ctx)
}

// awaitAlertmanager waits until Prometheus has discovered its Alertmanager
// (after start and after every reload, discovery takes up to ~5 s; alerts
// firing meanwhile are dropped, not queued).
func (p *Prometheus) awaitAlertmanager(ctx context.Context) error {
	if p.o.alertmanagerURL == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.o.startTimeout)
	defer cancel()
	tick := time.NewTicker(p.o.poll)
	defer tick.Stop()
	for {
		res, err := p.api.AlertManagers(ctx)
		if err == nil && len(res.Active) > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: prometheus did not discover alertmanager %s: %w", ErrTimeout, p.o.alertmanagerURL, ctx.Err())
		case <-tick.C:
		}
	}
}

// AwaitTargetsUp waits until every target has been scraped successfully
// (health "up") or ctx ends.
func (p *Prometheus) AwaitTargetsUp(ctx context.Context) error {
	tick := time.NewTicker(p.o.poll)
	defer tick.Stop()
	var last string
	for {
		res, err := p.api.Targets(ctx)
		if err == nil {
			down := 0
			for _, t := range res.Active {
				if t.Health != v1.HealthGood {
					down++
					last = fmt.Sprintf("%s %s: %s", t.Labels[rules.LabelService], t.Health, t.LastError)
				}
			}
			if down == 0 && len(res.Active) > 0 {
				return nil
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: targets not up (last: %s): %w", ErrTimeout, last, ctx.Err())
		case <-tick.C:
		}
	}
}

// HistogramBuckets returns the finite and infinite le bounds (seconds)
// Prometheus has scraped for the histogram metric (base name, without
// _bucket), read from the series themselves so no bound is assumed.
func (p *Prometheus) HistogramBuckets(ctx context.Context, metric string) ([]float64, error) {
	v, _, err := p.api.Query(ctx, fmt.Sprintf(`count by (le) (%s_bucket)`, metric), time.Now())
	if err != nil {
		return nil, fmt.Errorf("query buckets of %s: %w", metric, err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("query buckets of %s: unexpected %s", metric, v.Type())
	}
	var out []float64
	for _, s := range vec {
		b, err := strconv.ParseFloat(string(s.Metric[model.BucketLabel]), 64)
		if err != nil {
			return nil, fmt.Errorf("bucket le %q of %s: %w", s.Metric[model.BucketLabel], metric, err)
		}
		out = append(out, b)
	}
	sort.Float64s(out)
	return out, nil
}

// Close stops Prometheus and removes its directory. Idempotent.
func (p *Prometheus) Close() error {
	p.closeMu.Do(func() {
		var errs []error
		if p.proc != nil {
			errs = append(errs, p.proc.stop(DefaultStopGrace))
		}
		if p.dir != "" {
			errs = append(errs, os.RemoveAll(p.dir))
		}
		p.closeErr = errors.Join(errs...)
	})
	return p.closeErr
}

// Service describes this Prometheus as a stack service (role monitor), for
// the report's services[].
func (p *Prometheus) Service() stack.Service {
	return stack.Service{Name: "prometheus", Role: stack.RoleMonitor, URL: p.url, HealthPath: "/-/ready"}
}

// Version is Prometheus's version from /api/v1/status/buildinfo.
func (p *Prometheus) Version(ctx context.Context) (string, error) {
	bi, err := p.api.Buildinfo(ctx)
	if err != nil {
		return "", fmt.Errorf("prometheus buildinfo: %w", err)
	}
	return bi.Version, nil
}
