package safety_test

import (
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aiuptime/aiuptime/internal/hostile"
)

// Limits every hostile case must stay within: the issue's "within a
// second and under 100 MB". CPU time, not wall time, is bounded: it is
// what the input costs, whatever else the machine is doing.
const (
	hostileMaxRSS = 100 << 20
	hostileMaxCPU = time.Second
)

var _ = Describe("hostile inputs", Label("hostile"), func() {
	It("refuses every hostile input (exit 2) or accepts it (BOM, dry run) within a second of CPU and 100 MB, leaving nothing", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		Expect(hostile.Write(dir)).To(Succeed())
		since := time.Now()
		var rs []hostile.Result
		for _, c := range hostile.Cases() {
			r, err := hostile.Run(ctx, su.Drill, dir, c)
			Expect(err).NotTo(HaveOccurred())
			rs = append(rs, r)
		}
		var table strings.Builder
		Expect(hostile.Table(&table, rs)).To(Succeed())
		GinkgoWriter.Printf("hostile inputs (drill %s):\n%s", su.Drill, table.String())
		AddReportEntry("hostile inputs", table.String())
		for _, r := range rs {
			AddReportEntry("hostile: "+r.Name, map[string]any{"args": r.Args, "exit": r.Exit, "wall_s": r.Wall.Seconds(),
				"cpu_s": r.CPU.Seconds(), "max_rss_mb": float64(r.MaxRSS) / (1 << 20), "left": r.Left}, ReportEntryVisibilityFailureOrVerbose)
		}

		for _, r := range rs {
			Expect(r.Failure()).To(BeEmpty(), r.Name)
			Expect(r.CPU).To(BeNumerically("<", hostileMaxCPU), "%s: CPU time", r.Name)
			Expect(r.MaxRSS).To(BeNumerically("<", hostileMaxRSS), "%s: max RSS", r.Name)
		}
		Expect(createdFor(ctx, since, time.Now(), filepath.Join(dir, "state"), 0)).To(BeEmpty(),
			"a hostile case created Docker resources")
	}, SpecTimeout(3*time.Minute))
})
