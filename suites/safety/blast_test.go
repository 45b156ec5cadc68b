package safety_test

import (
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aiuptime/aiuptime/reports"
)

// blastStack asks the embedded stack for three model replicas.
const blastStack = "kind: containers\nreplicas: 3\nmodel: {size: 2MiB}\n"

// blastStep is the step of blastPlan that pauses a share of the replicas.
const blastStep = "pause one replica"

// blastPlan pauses one model replica, chosen by the run's seed, long enough
// to be observed from outside.
const blastPlan = `name: blast-radius
description: pause one of three model replicas, chosen by the seed
slo: {availability: 50}
probe: {interval: 100ms, mode: chat, timeout: 5s}
steps:
  - name: steady
    wait: 1s
  - name: ` + blastStep + `
    fault: container-pause
    target: {role: model, count: 1}
    duration: 8s
  - name: after
    wait: 1s
`

// blastSeed is the seed both runs are given.
const blastSeed = "1313"

// observation is the model containers' states at one moment.
type observation map[string]string

// paused lists the paused services of o, sorted.
func (o observation) paused() []string {
	var out []string
	for svc, state := range o {
		if state == "paused" {
			out = append(out, svc)
		}
	}
	sort.Strings(out)
	return out
}

// watchModels polls the Docker state of the drill's model containers
// every 100 ms until the drill exits, and returns every observation.
func watchModels(ctx context.Context, p *proc, stateDir string) []observation {
	GinkgoHelper()
	var seen []observation
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for p.running() {
		o, err := modelStates(ctx, stateDir)
		Expect(err).NotTo(HaveOccurred())
		if len(o) > 0 {
			seen = append(seen, o)
		}
		select {
		case <-ctx.Done():
			return seen
		case <-tick.C:
		case <-p.done:
		}
	}
	return seen
}

// junitProps returns the properties of the first suite of a junit.xml.
func junitProps(path string) map[string]string {
	GinkgoHelper()
	b, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	var js reports.JUnitSuites
	Expect(xml.Unmarshal(b, &js)).To(Succeed())
	Expect(js.Suites).NotTo(BeEmpty())
	out := map[string]string{}
	for _, p := range js.Suites[0].Properties {
		out[p.Name] = p.Value
	}
	return out
}

var _ = Describe("blast radius", Label("blast-radius"), func() {
	It("pauses exactly one of three replicas for {role: model, count: 1}, records it, and picks it again for the same seed", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		state := newStateDir()
		sf := write(dir, "stack.yaml", blastStack)
		plan := write(dir, "plan.yaml", blastPlan)
		out := filepath.Join(dir, "out")
		p := startDrill(dir, state, nil, "run", plan, "--stack", sf, "--out", out, "--seed", blastSeed, "--progress", "never")
		seen := watchModels(ctx, p, state)
		r := p.wait(ctx)
		Expect(r.code).To(BeElementOf(0, 1), "the drill ran to its end (0 pass, 1 SLO breached)")

		By("observing the three replicas while the fault was in force")
		replicas := map[string]bool{}
		var during []observation
		for _, o := range seen {
			for svc := range o {
				replicas[svc] = true
			}
			Expect(len(o.paused())).To(BeNumerically("<=", 1), "more than one replica paused at once: %v", o)
			if len(o.paused()) == 1 {
				during = append(during, o)
			}
		}
		Expect(replicas).To(HaveLen(3), "the stack had three model replicas")
		Expect(len(during)).To(BeNumerically(">=", 10), "the pause was observed for at least a second (100 ms polls)")
		victim := during[0].paused()[0]
		for _, o := range during {
			Expect(o.paused()).To(Equal([]string{victim}), "the paused replica changed")
			Expect(o).To(HaveLen(3))
			for svc, state := range o {
				if svc != victim {
					Expect(state).To(Equal("running"), "%s while %s was paused", svc, victim)
				}
			}
		}

		By("finding the same replica in report.json and junit.xml")
		rep, err := reports.Load(out)
		Expect(err).NotTo(HaveOccurred())
		Expect(rep.Seed).NotTo(BeNil())
		Expect(*rep.Seed).To(BeEquivalentTo(1313))
		var targets []string
		for _, s := range rep.Steps {
			if s.Name == blastStep {
				targets = s.Targets
			}
		}
		Expect(targets).To(Equal([]string{victim}), "report.json steps[].targets")
		props := junitProps(filepath.Join(out, reports.FileJUnit))
		Expect(props).To(HaveKeyWithValue("seed", blastSeed))
		Expect(props).To(HaveKeyWithValue("step."+blastStep+".targets", victim))

		By("repeating the choice with the same seed in a dry run")
		dry := runDrill(ctx, dir, newStateDir(), nil, "run", plan, "--stack", sf, "--dry-run", "--seed", blastSeed)
		Expect(dry.code).To(Equal(0))
		m := regexp.MustCompile(`container-pause on (\S+) \(1 of role model\)`).FindStringSubmatch(dry.stdout)
		Expect(m).NotTo(BeNil(), "the dry run names the chosen replica:\n%s", dry.stdout)
		Expect(m[1]).To(Equal(victim), "the same seed picks the same replica")
		AddReportEntry("blast radius", map[string]any{"seed": blastSeed, "paused": victim, "observations_paused": len(during),
			"observations": len(seen), "drill_s": r.took.Seconds()})
	}, SpecTimeout(4*time.Minute))
})
