// Package rollout performs updates of the model servers behind an
// OpenAI-compatible gateway and proves them: rolling update, blue-green and
// canary with automatic rollback. It acts on the gateway only through the
// LiteLLM admin API (/model/new, /model/update, /model/delete, /model/info,
// master key), so the same code drives a real LiteLLM proxy; containers are
// started and replaced through the optional stack.Replacer capability.
//
// Rolling update, per replica: delete its deployment at the gateway, wait
// until vllm:num_requests_running on the replica reaches 0 (deadline), replace
// the container, wait for health, ask the golden prompt directly at
// temperature 0 with a fixed seed and compare it with the answer recorded
// before the update (a new model version may change it: the report says so),
// then add the deployment back. A failing replica stops the rollout and the
// replaced ones are rolled back.
//
// Canary analysis (Kayenta-style, per step): over an interval the canary is
// compared with the baseline on (1) error rate: the larger of the probe's
// failures attributed to the canary (x-litellm-model-id) and the gateway's
// litellm_deployment_failure_responses / litellm_deployment_total_requests
// delta for the canary's deployment (retries hide upstream failures from the
// client, the gateway counters do not); it must not exceed the baseline's
// rate + MaxErrorRateDelta; (2) p95 latency of the probe's requests served by
// the canary, which must not exceed the baseline's p95 × MaxP95Factor (plus a
// small absolute slack), and (3) the mean of the model server's
// vllm:e2e_request_latency_seconds over the interval under the same factor.
// A step needs MinSamples canary requests (the interval is extended up to 4×
// to get them); too few is a breach ("no evidence, no promotion"). A breach
// rolls back at once; otherwise the last step promotes.
package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/stack"
)

// Decisions, as reports.Rollout.Decision.
const (
	DecisionPromoted   = "promoted"
	DecisionRolledBack = "rolled-back"
	DecisionCompleted  = "completed"
	DecisionAborted    = "aborted"
)

// Stats summarise probe results in an interval (optionally by backend).
type Stats struct {
	Total, Failed int
	ErrorRate     float64
	P50, P95      time.Duration
}

// TrafficFunc returns the probe's results sent in [from, to) answered by
// backend (a deployment id; "" for all).
type TrafficFunc func(from, to time.Time, backend string) Stats

// Release is what a rollout moves to.
type Release struct {
	Image        string
	Args         []string
	Env          map[string]string
	ModelVersion string
}

// Options returns the stack.ServiceOptions of the release.
func (r Release) Options() []stack.ServiceOption {
	var o []stack.ServiceOption
	if r.Image != "" {
		o = append(o, stack.WithImage(r.Image))
	}
	if len(r.Args) > 0 {
		o = append(o, stack.WithArgs(r.Args...))
	}
	for k, v := range r.Env {
		o = append(o, stack.WithEnv(k, v))
	}
	if r.ModelVersion != "" {
		o = append(o, stack.WithModelVersion(r.ModelVersion))
	}
	return o
}

// String describes the release for reports.
func (r Release) String() string {
	var p []string
	if r.Image != "" {
		p = append(p, "image "+r.Image)
	}
	if r.ModelVersion != "" {
		p = append(p, "model "+r.ModelVersion)
	}
	if len(r.Args) > 0 {
		p = append(p, "args "+strings.Join(r.Args, " "))
	}
	if len(p) == 0 {
		return "same release"
	}
	return strings.Join(p, ", ")
}

// Option configures a Rollouter.
type Option func(*options) error

type options struct {
	log          *slog.Logger
	traffic      TrafficFunc
	drainTimeout time.Duration
	healthTO     time.Duration
	prompt       string
	modelKey     string
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) error { o.log = l; return nil } }

// WithTraffic sets the probe results source (failed requests, canary analysis).
func WithTraffic(f TrafficFunc) Option { return func(o *options) error { o.traffic = f; return nil } }

// WithDrainTimeout bounds the wait for a replica's in-flight requests.
func WithDrainTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("drain timeout must be positive, got %s", d)
		}
		o.drainTimeout = d
		return nil
	}
}

// WithGoldenPrompt sets the golden prompt (default DefaultGoldenPrompt).
func WithGoldenPrompt(p string) Option { return func(o *options) error { o.prompt = p; return nil } }

// WithModelAPIKey sets the key the model servers require, for the golden
// prompt and for deployments added back (default: the stack's, if it tells).
func WithModelAPIKey(k string) Option { return func(o *options) error { o.modelKey = k; return nil } }

// Rollouter performs rollouts on a stack.
type Rollouter struct {
	st    stack.Stack
	rep   stack.Replacer
	admin *Admin
	o     options
}

// New returns a Rollouter for st. The stack must have a gateway service.
func New(ctx context.Context, st stack.Stack, opts ...Option) (*Rollouter, error) {
	o := options{log: slog.New(slog.DiscardHandler), drainTimeout: DefaultDrainTimeout,
		healthTO: 2 * time.Minute, prompt: DefaultGoldenPrompt}
	o.modelKey = stack.ModelAPIKey(st)
	for _, f := range opts {
		if err := f(&o); err != nil {
			return nil, fmt.Errorf("rollout option: %w", err)
		}
	}
	gw, err := gateway(ctx, st)
	if err != nil {
		return nil, err
	}
	r := &Rollouter{st: st, admin: NewAdmin(gw.URL, st.APIKey()), o: o}
	r.rep, _ = st.(stack.Replacer)
	return r, nil
}

// Admin returns the gateway admin client.
func (r *Rollouter) Admin() *Admin { return r.admin }

func gateway(ctx context.Context, st stack.Stack) (stack.Service, error) {
	svcs, err := st.Services(ctx)
	if err != nil {
		return stack.Service{}, fmt.Errorf("list services: %w", err)
	}
	for _, s := range svcs {
		if s.Role == stack.RoleGateway && s.Name == "gateway" {
			return s, nil
		}
	}
	for _, s := range svcs {
		if s.Role == stack.RoleGateway {
			return s, nil
		}
	}
	return stack.Service{}, fmt.Errorf("no gateway service: %w", stack.ErrNotFound)
}

// ModelServices lists the stack's model services (by name order of Services).
func ModelServices(ctx context.Context, st stack.Stack) ([]stack.Service, error) {
	svcs, err := st.Services(ctx)
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	var out []stack.Service
	for _, s := range svcs {
		if s.Role == stack.RoleModel {
			out = append(out, s)
		}
	}
	return out, nil
}

func depID(s stack.Service) string {
	if s.DeploymentID != "" {
		return s.DeploymentID
	}
	return s.Name
}

func (r *Rollouter) key() string {
	if r.o.modelKey == "" {
		return "none"
	}
	return r.o.modelKey
}

// deploymentFor builds the gateway deployment of a (new) model service.
func (r *Rollouter) deploymentFor(s stack.Service, weight float64) Deployment {
	return Deployment{ModelName: r.st.ModelName(),
		LitellmParams: map[string]any{"model": "hosted_vllm/" + s.ModelName, "api_base": strings.TrimRight(s.InternalURL, "/") + "/v1",
			"api_key": r.key(), "weight": weight},
		ModelInfo: map[string]any{"id": depID(s)}}
}

// readd puts a deployment read from /model/info back (api_key is not
// returned by LiteLLM, so the model key is set again).
func (r *Rollouter) readd(ctx context.Context, d Deployment) error {
	p := map[string]any{}
	for k, v := range d.LitellmParams {
		p[k] = v
	}
	p["api_key"] = r.key()
	return r.admin.Add(ctx, Deployment{ModelName: d.ModelName, LitellmParams: p, ModelInfo: map[string]any{"id": d.ID()}})
}

// checkRelease refuses a release whose image does not exist, before anything
// is touched.
func (r *Rollouter) checkRelease(ctx context.Context, rel Release) error {
	if r.rep == nil {
		return fmt.Errorf("%s stack: %w", r.st.Kind(), ErrUnsupported)
	}
	ic, ok := r.st.(stack.ImageChecker)
	if rel.Image == "" || !ok {
		return nil
	}
	exists, err := ic.ImageExists(ctx, rel.Image)
	if err != nil {
		return fmt.Errorf("check target image %q: %w", rel.Image, err)
	}
	if !exists {
		return fmt.Errorf("target image %q: %w (the stack was not touched)", rel.Image, ErrImageNotFound)
	}
	return nil
}

func (r *Rollouter) failed(from, to time.Time) int64 {
	if r.o.traffic == nil {
		return 0
	}
	return int64(r.o.traffic(from, to, "").Failed)
}

// finish closes a rollout's report: its duration since start and the
// failed requests the probe saw meanwhile.
func (r *Rollouter) finish(rep *reports.Rollout, start time.Time) {
	rep.DurationSeconds = time.Since(start).Seconds()
	rep.FailedRequests = r.failed(start, time.Now())
}

// golden asks a service the golden prompt, retrying briefly (a replica that
// just turned healthy may still be finishing its load).
func (r *Rollouter) golden(ctx context.Context, s stack.Service) (string, error) {
	var last error
	for i := 0; i < 5; i++ {
		a, err := Golden(ctx, s, r.o.modelKey, r.o.prompt)
		if err == nil {
			return a, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return "", last
}

func secs(d time.Duration) *float64 { f := d.Seconds(); return &f }

// Undo reverts a finished rollout (the rollback action calls it).
type Undo struct {
	Kind   string
	Target string
	run    func(ctx context.Context) error
}

// Run performs the undo and reports it as a rollback rollout.
func (u *Undo) Run(ctx context.Context) (*reports.Rollout, error) {
	start := time.Now()
	err := u.run(ctx)
	rep := &reports.Rollout{Kind: "rollback", Target: u.Target, DurationSeconds: time.Since(start).Seconds(),
		RollbackSeconds: secs(time.Since(start)), Decision: DecisionRolledBack,
		Evidence: []string{"undid " + u.Kind}}
	if err != nil {
		rep.Decision = DecisionAborted
		rep.Evidence = append(rep.Evidence, "error: "+err.Error())
		return rep, fmt.Errorf("roll back %s: %w", u.Kind, err)
	}
	return rep, nil
}

var errStop = errors.New("rollout stopped")
