package performance_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aiuptime/aiuptime/k6run"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/containers"
	"github.com/aiuptime/aiuptime/suites/internal/suitekit"
)

// Fixture latencies of the stack under test: the gate measures the harness
// path (gateway, streaming, k6) on top of a known model speed.
const (
	fixtureTTFT = 20 * time.Millisecond
	fixtureITL  = 5 * time.Millisecond
	// latencyFloorMs is absolute slack added to latency baselines.
	latencyFloorMs = 50
)

var baselinePath = filepath.Join("testdata", "baseline-load.json")

// repoRoot is the module root (two levels above this file).
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

func runID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "perf-" + hex.EncodeToString(b)
}

func tolerance() float64 {
	if v := os.Getenv("AIUPTIME_PERF_TOLERANCE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		Expect(err).NotTo(HaveOccurred(), "AIUPTIME_PERF_TOLERANCE")
		return f
	}
	return 1.0
}

// record puts a summary's headline numbers into the Ginkgo report.
func record(name string, s *k6run.Summary) {
	var b strings.Builder
	row := func(label, metric, stat string, ms bool) {
		v, ok := s.Value(metric, stat)
		switch {
		case !ok:
			return
		case ms:
			fmt.Fprintf(&b, "%s=%.1fms ", label, v)
		default:
			fmt.Fprintf(&b, "%s=%.4g ", label, v)
		}
	}
	row("iterations", k6run.MetricIterations, "count", false)
	row("iter/s", k6run.MetricIterations, "rate", false)
	row("availability", k6run.MetricUp, "rate", false)
	row("http_req_failed", k6run.MetricHTTPReqFailed, "rate", false)
	row("ttft_p95", k6run.MetricTTFT, "p(95)", true)
	row("itl_p95", k6run.MetricITL, "p(95)", true)
	row("tpot_p95", k6run.MetricTPOT, "p(95)", true)
	row("e2e_p95", k6run.MetricE2E, "p(95)", true)
	row("e2e_p99", k6run.MetricE2E, "p(99)", true)
	AddReportEntry(name, strings.TrimSpace(b.String()), ReportEntryVisibilityAlways)
	for _, t := range s.Thresholds() {
		AddReportEntry(name+" threshold", fmt.Sprintf("%s %s ok=%v", t.Metric, t.Source, t.OK))
	}
}

var _ = Describe("k6 against the embedded stack", Label("performance"), Ordered, func() {
	var (
		k6          string
		env         map[string]string
		deployments []string
		scripts     = filepath.Join(repoRoot(), "xk6-aiuptime", "scripts")
	)

	BeforeAll(func(ctx SpecContext) {
		var err error
		k6, err = k6run.Ensure(ctx, repoRoot())
		Expect(err).NotTo(HaveOccurred())

		st, err := containers.Start(ctx,
			containers.WithRunID(runID()),
			containers.WithLogger(suitekit.Logger()),
			containers.WithProxyMode(containers.ProxyNever),
			containers.WithTTFT(fixtureTTFT),
			containers.WithITL(fixtureITL),
		)
		if st != nil {
			DeferCleanup(func(ctx SpecContext) {
				Expect(st.Stop(ctx)).To(Succeed())
			}, NodeTimeout(2*time.Minute))
		}
		Expect(err).NotTo(HaveOccurred())
		gw, err := st.Service(ctx, containers.ServiceGateway)
		Expect(err).NotTo(HaveOccurred())
		svcs, err := st.Services(ctx)
		Expect(err).NotTo(HaveOccurred())
		for _, sv := range svcs {
			if sv.Role == stack.RoleModel {
				deployments = append(deployments, sv.DeploymentID)
			}
		}
		Expect(deployments).To(HaveLen(containers.DefaultReplicas))
		env = map[string]string{
			"BASE_URL": strings.TrimRight(gw.URL, "/") + "/v1",
			"API_KEY":  st.APIKey(),
			"MODEL":    st.ModelName(),
		}
	}, NodeTimeout(12*time.Minute))

	It("passes smoke.js", func(ctx SpecContext) {
		e := map[string]string{"ITERATIONS": "10"}
		for k, v := range env {
			e[k] = v
		}
		s, err := k6run.Run(ctx, k6, filepath.Join(scripts, "smoke.js"),
			k6run.WithEnv(e), k6run.WithOutput(GinkgoWriter))
		Expect(err).NotTo(HaveOccurred())
		record("k6 smoke", s)
		Expect(s.FailedThresholds()).To(BeEmpty())
		Expect(s.ThresholdsOK()).To(BeTrue())
		Expect(s.Iterations()).To(BeEquivalentTo(10))
		a, ok := s.Availability()
		Expect(ok).To(BeTrue())
		Expect(a).To(BeEquivalentTo(1))
		ttft, ok := s.Quantile(k6run.MetricTTFT, "min")
		Expect(ok).To(BeTrue())
		Expect(ttft).To(BeNumerically(">=", fixtureTTFT), "no token before the fixture's TTFT")
	}, SpecTimeout(90*time.Second))

	It("passes load.js and holds the baseline", func(ctx SpecContext) {
		e := map[string]string{"RATE": "10", "DURATION": "30s", "MAX_TOKENS": "16"}
		for k, v := range env {
			e[k] = v
		}
		points := filepath.Join(GinkgoT().TempDir(), "points.json")
		s, err := k6run.Run(ctx, k6, filepath.Join(scripts, "load.js"),
			k6run.WithEnv(e), k6run.WithOutput(GinkgoWriter), k6run.WithPointsPath(points))
		Expect(err).NotTo(HaveOccurred())
		record("k6 load", s)
		Expect(s.FailedThresholds()).To(BeEmpty())
		Expect(s.ThresholdsOK()).To(BeTrue())

		By("checking every request's record: the gateway spread them over every deployment")
		reqs, err := k6run.ReadRequests(points)
		Expect(err).NotTo(HaveOccurred())
		Expect(reqs).To(HaveLen(int(s.Iterations())))
		perBackend := map[string]int{}
		for _, r := range reqs {
			perBackend[r.Backend]++
		}
		AddReportEntry("k6 load per backend", fmt.Sprint(perBackend))
		Expect(perBackend).To(HaveLen(len(deployments)))
		for _, d := range deployments {
			Expect(perBackend).To(HaveKey(d))
		}

		current := s.Trim(k6run.MetricTTFT, k6run.MetricITL, k6run.MetricTPOT, k6run.MetricE2E,
			k6run.MetricUp, k6run.MetricIterations, k6run.MetricHTTPReqFailed)
		if os.Getenv("AIUPTIME_UPDATE_BASELINE") == "1" {
			Expect(current.WriteJSON(baselinePath)).To(Succeed())
			AddReportEntry("k6 baseline", "rewrote "+baselinePath)
			return
		}
		baseline, err := k6run.ReadJSON(baselinePath)
		Expect(err).NotTo(HaveOccurred(), "no baseline: run with AIUPTIME_UPDATE_BASELINE=1 to create it")
		regs := k6run.Compare(baseline, current, k6run.DefaultChecks, tolerance(), latencyFloorMs)
		var lines []string
		for _, r := range regs {
			lines = append(lines, r.String())
		}
		AddReportEntry("k6 baseline comparison", fmt.Sprintf("tolerance %.0f%%, regressions: %d %v", 100*tolerance(), len(regs), lines))
		Expect(lines).To(BeEmpty(), "regressions against %s (refresh with AIUPTIME_UPDATE_BASELINE=1 when intended)", baselinePath)
	}, SpecTimeout(2*time.Minute))
})
