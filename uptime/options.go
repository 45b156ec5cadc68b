package uptime

import (
	"fmt"
	"time"
)

// Defaults of the analysis knobs.
const (
	// DefaultFailoverThreshold is the number of consecutive failed requests
	// that makes an outage (the seed's failover threshold).
	DefaultFailoverThreshold = 3
	// DefaultRecoveryThreshold is the number of consecutive good requests
	// that ends one (the seed's recovery threshold).
	DefaultRecoveryThreshold = 5
	// DefaultSliceWidth is the width of the time slices behind time-based
	// availability, windowed counts and timeline buckets.
	DefaultSliceWidth = time.Second
	// DefaultSliceTarget is the success ratio a slice needs to count as good
	// for time-based availability.
	DefaultSliceTarget = 0.95
	// DefaultRecordCap bounds the compact per-request records kept (24 bytes
	// each, so 48 MiB). Past it only histograms, counters, slices and outage
	// intervals grow.
	DefaultRecordCap = 2 << 20
	// DefaultCauseTolerance is how long before an event an outage may start
	// and still be attributed to it: the first failed request may have been
	// sent just before the fault landed.
	DefaultCauseTolerance = time.Second
	// DefaultSampleCap bounds each reservoir of per-request samples kept
	// for comparing runs (latency, TTFT): on a uniform sample of 1000 a
	// 3 % shift of model-server-like latencies is already significant
	// (reports' compare tests), and report.json holds about 45 KB of
	// samples with their send times.
	DefaultSampleCap = 1000
	// DefaultSampleSeed seeds the reservoirs: a run's sample is
	// reproducible from its results.
	DefaultSampleSeed = 0x5eed_a1_0b71
	// reorderMax bounds the reorder buffer; results further out of order are
	// processed as they come.
	reorderMax = 1 << 16
)

// Option configures an Analyzer or a Window.
type Option func(*options) error

type options struct {
	failover  int
	recovery  int
	slice     time.Duration
	target    float64
	recordCap int
	criteria  Criteria
	tolerance time.Duration
	sampleCap int
	seed      uint64
}

func defaultOptions() options {
	return options{
		failover:  DefaultFailoverThreshold,
		recovery:  DefaultRecoveryThreshold,
		slice:     DefaultSliceWidth,
		target:    DefaultSliceTarget,
		recordCap: DefaultRecordCap,
		tolerance: DefaultCauseTolerance,
		sampleCap: DefaultSampleCap,
		seed:      DefaultSampleSeed,
	}
}

func applyOptions(opts []Option) (options, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, fmt.Errorf("uptime option: %w", err)
		}
	}
	return o, nil
}

// WithFailoverThreshold sets how many consecutive failures open an outage.
func WithFailoverThreshold(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("failover threshold %d must be at least 1", n)
		}
		o.failover = n
		return nil
	}
}

// WithRecoveryThreshold sets how many consecutive successes close an outage.
func WithRecoveryThreshold(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("recovery threshold %d must be at least 1", n)
		}
		o.recovery = n
		return nil
	}
}

// WithSliceWidth sets the slice width of time-based availability and of
// the fallback timeline buckets.
func WithSliceWidth(d time.Duration) Option {
	return func(o *options) error {
		if d < time.Millisecond {
			return fmt.Errorf("slice width %v must be at least 1ms", d)
		}
		o.slice = d
		return nil
	}
}

// WithSliceTarget sets the success ratio (0..1] a slice needs to be good.
func WithSliceTarget(f float64) Option {
	return func(o *options) error {
		if !(f > 0 && f <= 1) {
			return fmt.Errorf("slice target %v must be in (0, 1]", f)
		}
		o.target = f
		return nil
	}
}

// WithRecordCap sets how many compact records are kept (0 keeps none).
func WithRecordCap(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("record cap %d must not be negative", n)
		}
		o.recordCap = n
		return nil
	}
}

// WithGoodput sets the per-request criteria of goodput and SLO attainment.
func WithGoodput(c Criteria) Option {
	return func(o *options) error {
		if c.MaxLatency < 0 || c.MaxTTFT < 0 || c.MaxTPOT < 0 || c.MaxITL < 0 {
			return fmt.Errorf("goodput criteria must not be negative: %+v", c)
		}
		o.criteria = c
		return nil
	}
}

// WithCauseTolerance sets how long before a fault event an outage may start
// and still be attributed to it.
func WithCauseTolerance(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("cause tolerance %v must not be negative", d)
		}
		o.tolerance = d
		return nil
	}
}

// WithSamples sets how many per-request samples each reservoir keeps (0
// keeps none) and the seed that picks them.
func WithSamples(capacity int, seed uint64) Option {
	return func(o *options) error {
		if capacity < 0 {
			return fmt.Errorf("sample cap %d must not be negative", capacity)
		}
		o.sampleCap, o.seed = capacity, seed
		return nil
	}
}
