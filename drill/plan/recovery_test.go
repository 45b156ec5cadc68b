package plan

import (
	"strings"
	"testing"
	"time"
)

func TestRecoveryBlock(t *testing.T) {
	const steps = "steps:\n  - name: s\n    wait: 1s\n"
	for _, tc := range []struct {
		name, yaml string
		// errs are substrings of the error ("" for a valid plan).
		errs      []string
		rule      [2]int
		interval  time.Duration
		probeMode string
	}{
		{name: "defaults: the seed's failover rule, health probes", yaml: "",
			rule: [2]int{3, 5}, interval: 100 * time.Millisecond, probeMode: "health"},
		{name: "a plan changes the rule", yaml: "recovery: {failures: 2, successes: 10, interval: 50ms}\nservice_probes: {mode: chat}\n",
			rule: [2]int{2, 10}, interval: 50 * time.Millisecond, probeMode: "chat"},
		{name: "service probes off", yaml: "service_probes: {mode: off}\n", rule: [2]int{3, 5}, interval: 100 * time.Millisecond, probeMode: "off"},
		{name: "negative counts", yaml: "recovery: {failures: -1, successes: 5000}\n",
			errs: []string{"recovery.failures: must be within 1..1000", "recovery.successes: must be within 1..1000"}},
		{name: "too fast", yaml: "recovery: {interval: 1ms}\nservice_probes: {interval: 5ms}\n",
			errs: []string{"recovery.interval: at least 10ms", "service_probes.interval: at least 10ms"}},
		{name: "unknown mode", yaml: "service_probes: {mode: ping}\n", errs: []string{`service_probes.mode: unknown mode "ping"`}},
		{name: "unknown key", yaml: "recovery: {confirm: 3}\n", errs: []string{"confirm"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse("p.yaml", []byte("name: p\n"+tc.yaml+steps))
			if len(tc.errs) > 0 {
				if err == nil {
					t.Fatal("want an error")
				}
				for _, e := range tc.errs {
					if !strings.Contains(err.Error(), e) {
						t.Errorf("error %q lacks %q", err, e)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r, sp := p.RecoveryDefaults(), p.ServiceProbesDefaults()
			if got := [2]int{r.Failures, r.Successes}; got != tc.rule {
				t.Errorf("rule %v, want %v", got, tc.rule)
			}
			if r.Interval.D() != tc.interval || sp.Mode != tc.probeMode {
				t.Errorf("interval %s mode %s, want %s %s", r.Interval, sp.Mode, tc.interval, tc.probeMode)
			}
			if r.CompletionTimeout.D() != DefaultCompletionTimeout || sp.Interval.D() != DefaultServiceInterval {
				t.Errorf("defaults not filled in: %+v %+v", r, sp)
			}
		})
	}
}
