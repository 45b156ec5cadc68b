// Package recovery watches a hurt service directly, independently of the
// traffic users send through the gateway: its health endpoint, a real tiny
// completion with a deadline (a hung engine keeps /health at 200: only a
// completion shows it), the gateway's view of it (in rotation or not) and
// its processes. From those checks it finds the component's outages under a
// confirmation rule and the phases of each recovery: detected, process back,
// model loaded, ready, first token served, back in rotation.
//
// A phase that cannot be observed on a stack or a server is reported as not
// measured, with the reason, never as 0. The package imports the probe and
// the uptime analyzer only; how to list processes and how to read the
// gateway's view are functions the caller passes in (package drill adapts
// the stack's capabilities).
package recovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aiuptime/aiuptime/probe"
)

// Defaults of a watch.
const (
	// DefaultFailures is how many consecutive failed checks open a component
	// outage (the seed's failover rule).
	DefaultFailures = 3
	// DefaultSuccesses is how many consecutive good checks close one (the
	// seed's recovery rule).
	DefaultSuccesses = 5
	// DefaultInterval is the time between two health checks, and between two
	// completions, of a watched service.
	DefaultInterval = 100 * time.Millisecond
	// DefaultCompletionTimeout bounds each tiny completion: a hung engine
	// fails it.
	DefaultCompletionTimeout = 2 * time.Second
	// DefaultHealthTimeout bounds each health check.
	DefaultHealthTimeout = time.Second
	// DefaultPoll is how often the gateway's view and the processes are read.
	DefaultPoll = 250 * time.Millisecond
	// DefaultSettle is how long a watch goes on after the last fault on the
	// service ended, at least: a fault may take a moment to show (vLLM
	// notices a dead engine within ~5 s).
	DefaultSettle = 5 * time.Second
	// DefaultRotationGrace is how long a recovered service is still watched
	// for the gateway to take it back into rotation.
	DefaultRotationGrace = 30 * time.Second
	// DefaultMaxWatch bounds a watch: its probes stop by themselves after it.
	DefaultMaxWatch = 30 * time.Minute
	// completionConcurrency caps the completions in flight (a hung engine
	// holds each until its deadline).
	completionConcurrency = 8
	// healthConcurrency caps the health checks in flight.
	healthConcurrency = 8
)

// Rule is the confirmation rule: Failures consecutive failed checks open an
// outage, Successes consecutive good ones close it.
type Rule struct {
	Failures  int `json:"failures"`
	Successes int `json:"successes"`
}

// DefaultRule is the seed's failover rule: 3 consecutive failures, recovery
// after 5 consecutive successes.
var DefaultRule = Rule{Failures: DefaultFailures, Successes: DefaultSuccesses}

// Check returns an error when the rule cannot work.
func (r Rule) Check() error {
	if r.Failures < 1 || r.Successes < 1 {
		return fmt.Errorf("confirmation rule %d failures / %d successes: both must be at least 1", r.Failures, r.Successes)
	}
	return nil
}

// Process is one process of a service as the watch sees it.
type Process struct {
	// Name is what the process runs (the first word of its command line).
	Name string
	// ID tells two processes of the same name apart (host pid and start time).
	ID string
	// Running is false for stopped (SIGSTOP) and zombie processes.
	Running bool
}

// ProcessFunc lists the processes of the watched service. An error means it
// has none right now (a container that is not running).
type ProcessFunc func(ctx context.Context) ([]Process, error)

// RotationFunc reads the gateway's view of the watched service: its
// litellm_deployment_state (0 in rotation, 1 partial outage, 2 cooling
// down). ok is false when the gateway does not say.
type RotationFunc func(ctx context.Context) (state float64, ok bool)

// Target is the service a watch checks.
type Target struct {
	// Name is the service's name, for logs and results.
	Name string
	// URL is the service's base URL reachable from the harness (a loopback
	// or published port).
	URL string
	// HealthPath is its readiness path (/health, /health/readiness).
	HealthPath string
	// Model is the model name completions ask for.
	Model string
	// APIKey is sent with completions (never logged).
	APIKey string
	// Processes lists its processes; nil when the stack cannot tell.
	Processes ProcessFunc
	// Rotation reads the gateway's view of it; nil when there is none (the
	// gateway itself, or a stack without one).
	Rotation RotationFunc
	// Resolve re-reads URL while the watch runs (nil: URL for good): a
	// Kubernetes pod replaced by its Deployment comes back elsewhere.
	Resolve probe.Resolver
}

func (t Target) check() error {
	if t.URL == "" {
		return errors.New("watch target has no URL")
	}
	if t.HealthPath == "" {
		return fmt.Errorf("watch target %s has no health path", t.Name)
	}
	return nil
}

// Option configures a watch or a feed.
type Option func(*options) error

type options struct {
	rule              Rule
	interval          time.Duration
	completionTimeout time.Duration
	healthTimeout     time.Duration
	poll              time.Duration
	settle            time.Duration
	rotationGrace     time.Duration
	maxWatch          time.Duration
	log               *slog.Logger
}

func newOptions(opts []Option) (options, error) {
	o := options{
		rule: DefaultRule, interval: DefaultInterval, completionTimeout: DefaultCompletionTimeout,
		healthTimeout: DefaultHealthTimeout, poll: DefaultPoll, settle: DefaultSettle,
		rotationGrace: DefaultRotationGrace, maxWatch: DefaultMaxWatch, log: slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, fmt.Errorf("recovery option: %w", err)
		}
	}
	return o, nil
}

// WithRule sets the confirmation rule (default DefaultRule).
func WithRule(r Rule) Option {
	return func(o *options) error {
		if err := r.Check(); err != nil {
			return err
		}
		o.rule = r
		return nil
	}
}

// positive returns an option setting *field to d when d > 0.
func positive(what string, d time.Duration, set func(*options)) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%s %v must be positive", what, d)
		}
		set(o)
		return nil
	}
}

// WithInterval sets the time between two checks (default DefaultInterval).
func WithInterval(d time.Duration) Option {
	return positive("check interval", d, func(o *options) { o.interval = d })
}

// WithCompletionTimeout bounds each completion (default DefaultCompletionTimeout).
func WithCompletionTimeout(d time.Duration) Option {
	return positive("completion timeout", d, func(o *options) { o.completionTimeout = d })
}

// WithHealthTimeout bounds each health check (default DefaultHealthTimeout).
func WithHealthTimeout(d time.Duration) Option {
	return positive("health timeout", d, func(o *options) { o.healthTimeout = d })
}

// WithPoll sets how often processes and the gateway's view are read
// (default DefaultPoll).
func WithPoll(d time.Duration) Option {
	return positive("poll interval", d, func(o *options) { o.poll = d })
}

// WithSettle sets how long a watch goes on after the last fault ended
// (default DefaultSettle).
func WithSettle(d time.Duration) Option {
	return positive("settle time", d, func(o *options) { o.settle = d })
}

// WithRotationGrace sets how long a recovered service is watched for the
// gateway to take it back (default DefaultRotationGrace).
func WithRotationGrace(d time.Duration) Option {
	return positive("rotation grace", d, func(o *options) { o.rotationGrace = d })
}

// WithMaxWatch bounds a watch (default DefaultMaxWatch).
func WithMaxWatch(d time.Duration) Option {
	return positive("max watch", d, func(o *options) { o.maxWatch = d })
}

// WithLogger sets the structured logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("recovery logger is nil")
		}
		o.log = l
		return nil
	}
}
