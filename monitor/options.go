package monitor

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aiuptime/aiuptime/monitor/rules"
)

// Defaults of the runtime knobs.
const (
	// DefaultScrapeInterval is the scrape and rule evaluation interval.
	DefaultScrapeInterval = rules.DefaultScrapeInterval
	// DefaultStartTimeout bounds how long a process may take to become ready.
	DefaultStartTimeout = 30 * time.Second
	// DefaultPollInterval is how often alert states are polled.
	DefaultPollInterval = 100 * time.Millisecond
	// DefaultStopGrace is how long a process gets to stop before SIGKILL.
	DefaultStopGrace = 5 * time.Second
)

// Option is a runtime knob of StartPrometheus, StartAlertmanager and CheckRules.
type Option func(*options) error

type options struct {
	log             *slog.Logger
	prometheus      string
	promtool        string
	alertmanager    string
	amtool          string
	scrape          time.Duration
	rules           *rules.File
	alertmanagerURL string
	startTimeout    time.Duration
	poll            time.Duration
	parentDir       string
}

func buildOptions(opts []Option) (*options, error) {
	o := &options{
		log:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		scrape:       DefaultScrapeInterval,
		startTimeout: DefaultStartTimeout,
		poll:         DefaultPollInterval,
	}
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// WithLogger sets the structured logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("nil logger")
		}
		o.log = l
		return nil
	}
}

// WithPrometheus sets the prometheus binary (default: "prometheus" in PATH).
func WithPrometheus(path string) Option {
	return func(o *options) error { o.prometheus = path; return nil }
}

// WithPromtool sets the promtool binary (default: "promtool" in PATH).
func WithPromtool(path string) Option {
	return func(o *options) error { o.promtool = path; return nil }
}

// WithAlertmanagerBinary sets the alertmanager binary (default:
// "prometheus-alertmanager", Debian's name, then "alertmanager").
func WithAlertmanagerBinary(path string) Option {
	return func(o *options) error { o.alertmanager = path; return nil }
}

// WithScrapeInterval sets the scrape and evaluation interval (default 1s).
func WithScrapeInterval(d time.Duration) Option {
	return func(o *options) error {
		if d < 100*time.Millisecond {
			return fmt.Errorf("scrape interval %s: must be at least 100ms", d)
		}
		o.scrape = d
		return nil
	}
}

// WithRules loads a generated rule file (checked with promtool first).
func WithRules(f rules.File) Option {
	return func(o *options) error { o.rules = &f; return nil }
}

// WithAlertmanagerURL makes Prometheus send alerts to an Alertmanager
// (e.g. (*Alertmanager).URL()).
func WithAlertmanagerURL(u string) Option {
	return func(o *options) error { o.alertmanagerURL = u; return nil }
}

// WithStartTimeout bounds the wait for readiness (default 30s).
func WithStartTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("start timeout %s: must be positive", d)
		}
		o.startTimeout = d
		return nil
	}
}

// WithPollInterval sets how often Await* poll (default 100ms).
func WithPollInterval(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("poll interval %s: must be positive", d)
		}
		o.poll = d
		return nil
	}
}

// WithDir sets the parent of the temporary working directory (default:
// os.TempDir()).
func WithDir(dir string) Option {
	return func(o *options) error { o.parentDir = dir; return nil }
}
