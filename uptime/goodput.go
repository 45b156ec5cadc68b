package uptime

import (
	"time"

	"github.com/aiuptime/aiuptime/probe"
)

// Criteria are the per-request SLOs of goodput (GuideLLM, vLLM bench): a
// request counts toward goodput when it succeeded and met every non-zero
// limit. Errors and incomplete requests always count against.
type Criteria struct {
	MaxLatency time.Duration `json:"max_latency,omitempty"`
	MaxTTFT    time.Duration `json:"max_ttft,omitempty"`
	MaxTPOT    time.Duration `json:"max_tpot,omitempty"`
	MaxITL     time.Duration `json:"max_itl,omitempty"`
}

// IsZero reports whether no criterion is set.
func (c Criteria) IsZero() bool { return c == Criteria{} }

// Met reports whether r counts toward goodput.
func (c Criteria) Met(r probe.Result) bool {
	if !r.Outcome.Good() {
		return false
	}
	if c.MaxLatency > 0 && r.Latency > c.MaxLatency {
		return false
	}
	if c.MaxTTFT > 0 && r.TTFT > c.MaxTTFT {
		return false
	}
	if c.MaxTPOT > 0 && tpot(r) > c.MaxTPOT {
		return false
	}
	if c.MaxITL > 0 {
		for _, g := range r.ITL {
			if g > c.MaxITL {
				return false
			}
		}
	}
	return true
}

// tpot is (E2E - TTFT) / (tokens - 1), or 0 when undefined.
func tpot(r probe.Result) time.Duration {
	if r.Tokens < 2 || r.TTFT <= 0 || r.Latency < r.TTFT {
		return 0
	}
	return (r.Latency - r.TTFT) / time.Duration(r.Tokens-1)
}
