package plan

import (
	"time"

	"github.com/aiuptime/aiuptime/units"
)

// Defaults of the recovery watch and the service probes.
const (
	// DefaultRecoveryFailures and DefaultRecoverySuccesses are the seed's
	// failover rule: 3 consecutive failures, recovery after 5 consecutive
	// successes.
	DefaultRecoveryFailures  = 3
	DefaultRecoverySuccesses = 5
	DefaultRecoveryInterval  = 100 * time.Millisecond
	DefaultCompletionTimeout = 2 * time.Second
	DefaultRecoverySettle    = 5 * time.Second
	// ServiceProbesOff turns the service probes off.
	ServiceProbesOff         = "off"
	DefaultServiceProbeMode  = ProbeHealth
	DefaultServiceInterval   = 250 * time.Millisecond
	DefaultServiceTimeout    = 2 * time.Second
	minRecoveryInterval      = 10 * time.Millisecond
	maxConfirmationThreshold = 1000
)

// RecoveryDefaults returns the plan's recovery block with defaults filled in.
func (p *Plan) RecoveryDefaults() Recovery {
	var r Recovery
	if p.Recovery != nil {
		r = *p.Recovery
	}
	if r.Failures == 0 {
		r.Failures = DefaultRecoveryFailures
	}
	if r.Successes == 0 {
		r.Successes = DefaultRecoverySuccesses
	}
	r.Interval = orDuration(r.Interval, DefaultRecoveryInterval)
	r.CompletionTimeout = orDuration(r.CompletionTimeout, DefaultCompletionTimeout)
	r.Settle = orDuration(r.Settle, DefaultRecoverySettle)
	return r
}

// ServiceProbesDefaults returns the plan's service probes with defaults
// filled in (Mode "off" when the plan turned them off).
func (p *Plan) ServiceProbesDefaults() ServiceProbes {
	var s ServiceProbes
	if p.ServiceProbes != nil {
		s = *p.ServiceProbes
	}
	if s.Mode == "" {
		s.Mode = DefaultServiceProbeMode
	}
	s.Interval = orDuration(s.Interval, DefaultServiceInterval)
	s.Timeout = orDuration(s.Timeout, DefaultServiceTimeout)
	return s
}

func orDuration(d units.Duration, def time.Duration) units.Duration {
	if d == 0 {
		return units.Duration(def)
	}
	return d
}

// recovery checks the recovery block and the service probes.
func (c *checker) recovery() {
	if r := c.p.Recovery; r != nil {
		for _, f := range []struct {
			name string
			n    int
		}{{"failures", r.Failures}, {"successes", r.Successes}} {
			if f.n < 0 || f.n > maxConfirmationThreshold {
				c.bad(path("recovery", f.name), "must be within 1..%d, got %d", maxConfirmationThreshold, f.n)
			}
		}
		if r.Interval != 0 && r.Interval.D() < minRecoveryInterval {
			c.bad(path("recovery", "interval"), "at least %s, got %s", minRecoveryInterval, r.Interval)
		}
		c.positive(path("recovery", "completion_timeout"), r.CompletionTimeout)
		c.positive(path("recovery", "settle"), r.Settle)
	}
	if s := c.p.ServiceProbes; s != nil {
		switch s.Mode {
		case "", ProbeHealth, ProbeChat, ProbeStream, ServiceProbesOff:
		default:
			c.bad(path("service_probes", "mode"), "unknown mode %q (want health, chat, stream or off)", s.Mode)
		}
		if s.Interval != 0 && s.Interval.D() < minRecoveryInterval {
			c.bad(path("service_probes", "interval"), "at least %s, got %s", minRecoveryInterval, s.Interval)
		}
		c.positive(path("service_probes", "timeout"), s.Timeout)
	}
}
