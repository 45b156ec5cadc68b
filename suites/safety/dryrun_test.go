package safety_test

import (
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// dryPlan has a fault of each family and an action on the embedded stack.
const dryPlan = `name: dry
steps:
  - name: steady
    wait: 1s
  - name: pause a replica
    fault: container-pause
    target: {role: model, count: 1}
    duration: 5s
  - name: wipe model-1's weights
    fault: disk-wipe
    target: model-1
    params: {volume: models}
  - name: slow model-0
    fault: network-delay
    target: model-0
    params: {delay: 100ms}
    duration: 5s
  - name: back up
    action: backup
`

var _ = Describe("dry run", Label("dry-run"), func() {
	It("creates no container, network, volume, report directory or state", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		plan := write(dir, "plan.yaml", dryPlan)
		sf := write(dir, "stack.yaml", "kind: containers\nreplicas: 3\n")
		state, out := filepath.Join(dir, "state"), filepath.Join(dir, "out")
		since := time.Now()
		for _, args := range [][]string{
			{"run", plan, "--dry-run", "--out", out},
			{"run", plan, "--dry-run", "--out", out, "--stack", sf, "--seed", "5"},
		} {
			p := startDrill(dir, state, nil, args...)
			pid := p.cmd.Process.Pid
			r := p.wait(ctx)
			Expect(r.code).To(Equal(0))
			Expect(r.stdout).To(ContainSubstring("dry run: nothing is started or changed"))
			Expect(r.stdout).To(MatchRegexp(`disk-wipe on model-1`))
			Expect(createdFor(ctx, since, time.Now(), dir, pid)).To(BeEmpty(), "the dry run created Docker resources")
		}
		Expect(out).NotTo(BeAnExistingFile(), "the dry run created its report directory")
		Expect(state).NotTo(BeAnExistingFile(), "the dry run created its state directory")
	}, SpecTimeout(time.Minute))
})
