package drillrun_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aiuptime/aiuptime/reports"
)

// steadyPlan is steady traffic and nothing else: two of its runs on one
// unchanged stack differ by noise only.
const steadyPlan = `name: steady
description: steady chat traffic through the gateway, no fault
slo: {availability: 99, latency_p95: 2s}
probe: {interval: 50ms, mode: chat, timeout: 5s, max_tokens: 16}
steps:
  - name: steady state
    wait: 20s
`

// slowReplica is the embedded stack with model-1 200 ms slower: the
// regression the comparison must see, known from the configuration.
const slowReplica = "kind: containers\nservices:\n  model-1:\n    args: [\"--extra-latency\", \"200ms\"]\n"

var _ = Describe("drill report --compare", Label("cli", "compare"), func() {
	It("judges two runs of an unchanged stack the same, and a replica 200 ms slower worse on latency", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		plan := write(dir, "steady.yaml", steadyPlan)
		slow := write(dir, "slow.yaml", slowReplica)
		outs := map[string]string{}
		for _, name := range []string{"before", "again", "slow"} {
			outs[name] = filepath.Join(dir, name)
			args := []string{"run", plan, "--out", outs[name], "--progress", "never"}
			if name == "slow" {
				args = append(args, "--stack", slow)
			}
			Expect(drill(ctx, nil, args...).code).To(Equal(0), name)
		}

		By("an unchanged stack: every metric the same, exit 0")
		r := drill(ctx, nil, "report", "--compare", outs["before"], outs["again"], "--json")
		Expect(r.code).To(Equal(0))
		var same reports.Comparison
		Expect(json.Unmarshal([]byte(r.stdout), &same)).To(Succeed())
		Expect(same.Verdict).NotTo(Equal(reports.VerdictWorse), same.Reason)
		for _, d := range same.Deltas {
			Expect(d.Verdict).NotTo(Equal(reports.VerdictWorse), "%s: %s", d.Metric, d.Note)
		}

		By("model-1 200 ms slower: p95 latency worse, significant, exit 1")
		r = drill(ctx, nil, "report", "--compare", outs["before"], outs["slow"], "--json")
		Expect(r.code).To(Equal(1))
		Expect(r.stderr).To(ContainSubstring("is worse than"))
		var worse reports.Comparison
		Expect(json.Unmarshal([]byte(r.stdout), &worse)).To(Succeed())
		Expect(worse.Verdict).To(Equal(reports.VerdictWorse))
		var p95 reports.Delta
		for _, d := range worse.Deltas {
			if d.Metric == reports.MetricNameLatencyP95 {
				p95 = d
			}
		}
		Expect(p95.Verdict).To(Equal(reports.VerdictWorse), p95.Note)
		Expect(p95.PValue).NotTo(BeNil())
		Expect(*p95.PValue).To(BeNumerically("<", 0.01))
		// The truth is the configuration: half the requests go to the
		// replica 200 ms slower, so p95 moves by well over 100 ms, and
		// so does the interval's near end.
		Expect(p95.Change).To(BeNumerically(">", 0.100))
		Expect(p95.Shift).NotTo(BeNil())
		Expect(p95.Shift.Low).To(BeNumerically(">", 0.050))

		By("runs of different plans need --force")
		bad := renamedPlan(outs["again"], filepath.Join(dir, "renamed"), "other")
		r = drill(ctx, nil, "report", "--compare", outs["before"], bad)
		Expect(r.code).To(Equal(2))
		Expect(r.stderr).To(ContainSubstring("--force"))
		r = drill(ctx, nil, "report", "--compare", outs["before"], bad, "--force")
		Expect(r.code).To(Equal(0))
		Expect(r.stdout).To(ContainSubstring("WARNING: different plans"))
	}, SpecTimeout(6*time.Minute))
})

// renamedPlan copies the run in src to dst as a run of another plan.
func renamedPlan(src, dst, plan string) string {
	GinkgoHelper()
	b, err := os.ReadFile(filepath.Join(src, reports.FileJSON))
	Expect(err).NotTo(HaveOccurred())
	var m map[string]any
	Expect(json.Unmarshal(b, &m)).To(Succeed())
	m["plan"] = plan
	b, err = json.Marshal(m)
	Expect(err).NotTo(HaveOccurred())
	Expect(os.MkdirAll(dst, 0o755)).To(Succeed())
	Expect(os.WriteFile(filepath.Join(dst, reports.FileJSON), b, 0o644)).To(Succeed())
	return dst
}
