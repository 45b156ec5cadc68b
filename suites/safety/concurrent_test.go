package safety_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aiuptime/aiuptime/internal/drillsafety"
	"github.com/aiuptime/aiuptime/stack/containers"
)

var _ = Describe("concurrent drills", Label("concurrency"), func() {
	It("runs two drills at once, refuses a third on the same report directory, and after a SIGKILL cleans up only the dead run", func(ctx SpecContext) {
		start := time.Now()
		o, err := drillsafety.Run(ctx, drillsafety.Config{Drill: su.Drill, StateDir: newStateDir(), WorkDir: GinkgoT().TempDir(), Log: GinkgoWriter})
		DeferCleanup(func(ctx SpecContext) {
			for _, run := range o.Runs {
				left, err := containers.Resources(ctx, run)
				Expect(err).NotTo(HaveOccurred())
				if len(left) > 0 {
					_, _ = containers.Down(context.WithoutCancel(ctx), run)
					Fail("run " + run + " left resources behind")
				}
			}
		}, NodeTimeout(3*time.Minute))
		Expect(err).NotTo(HaveOccurred())
		GinkgoWriter.Printf("cleanup with A's and B's faults in force said:\n%s\n", o.Cleanup.Stdout)
		AddReportEntry("concurrent drills", map[string]any{
			"scenario_s": time.Since(start).Seconds(),
			"a":          map[string]any{"exit": o.A.Code, "took_s": o.A.Took.Seconds()},
			"b":          map[string]any{"exit": o.B.Code, "took_s": o.B.Took.Seconds()},
			"same_out":   map[string]any{"exit": o.SameOut.Code, "took_s": o.SameOut.Took.Seconds()},
			"killed_run": o.KilledRun, "cleanup": map[string]any{"exit": o.Cleanup.Code, "took_s": o.Cleanup.Took.Seconds()},
			"live_after_cleanup": o.LiveAfterCleanup,
		})
		Expect(o.Check()).To(Succeed())
	}, SpecTimeout(10*time.Minute))
})
