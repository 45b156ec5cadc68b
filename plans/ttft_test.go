package plans

import (
	"testing"

	"github.com/aiuptime/aiuptime/drill/plan"
)

// TestShippedPlansMeasureTTFT: every shipped plan streams some of its probe
// requests, so its report holds TTFT, ITL and TPOT: mode stream streams
// them all, mode chat 1 in stream_every. A plan in mode health would have
// none and must say so in its comment (only a plan of Chaos Mesh objects
// for the simulated cluster, where no pod serves, does).
func TestShippedPlansMeasureTTFT(t *testing.T) {
	for _, name := range Names() {
		b, err := Read(name)
		if err != nil {
			t.Fatal(err)
		}
		p, err := plan.Parse(name, b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		pr, _ := p.Defaults()
		if p.ClusterOnly() && pr.Mode == plan.ProbeHealth {
			// kubernetes-chaos-mesh runs on the kwok tier, where no pod
			// serves a completion: it probes health and says so.
			continue
		}
		switch {
		case pr.Mode == plan.ProbeStream:
		case pr.Mode == plan.ProbeChat && pr.StreamEvery != nil && *pr.StreamEvery > 0:
		default:
			t.Errorf("%s: probe mode %s streams nothing: its report would say TTFT not measured", name, pr.Mode)
		}
	}
}
