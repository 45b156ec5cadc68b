// Package integration_test injects every fault kind into the embedded stack
// (stack/containers) while a probe runs, checks the effect users feel, and
// checks that every revert leaves the stack healthy and `drill doctor`
// clean. The kill matrix SIGKILLs a `drill fault inject` process mid-fault
// and proves `drill cleanup` restores everything.
package integration_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/hostcaps"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/containers"
	"github.com/aiuptime/aiuptime/suites/internal/suitekit"
)

func TestIntegration(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Integration Suite")
}

var (
	st       *containers.Stack
	kernel   hostcaps.Kernel
	journal  *chaos.Journal
	stateDir string
	drillBin string
	log      *slog.Logger
)

var _ = BeforeSuite(func(ctx SpecContext) {
	h := suitekit.NeedRootDocker(ctx, "the integration suite needs root (netns, mount namespaces, docker)")
	log, stateDir, journal = h.Log, h.StateDir, h.Journal
	var err error
	kernel, err = hostcaps.Probe(ctx)
	Expect(err).NotTo(HaveOccurred())
	AddReportEntry("kernel capabilities", fmt.Sprintf("%+v", kernel))
	drillBin = suitekit.BuildDrill(ctx)
	st = h.StartStack(ctx, fmt.Sprintf("integ-%d", os.Getpid()), containers.WithKernel(kernel))
	AddReportEntry("stack setup", fmt.Sprintf("%+v", st.Setup()))
}, NodeTimeout(6*time.Minute))

// healthy waits until every service answers its health path with 200.
func healthy(ctx context.Context) {
	GinkgoHelper()
	Eventually(ctx, func(g Gomega) {
		svcs, err := st.Services(ctx)
		g.Expect(err).NotTo(HaveOccurred())
		for _, s := range svcs {
			if s.Role != stack.RoleModel && s.Role != stack.RoleGateway {
				continue
			}
			g.Expect(status(ctx, s.URL+s.HealthPath)).To(Equal(200), s.Name)
		}
	}).WithTimeout(90 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
}

func status(ctx context.Context, url string) int {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// drill runs the built CLI with the suite's state dir and returns output and exit code.
func drill(ctx context.Context, args ...string) (string, int) {
	cmd := exec.CommandContext(ctx, drillBin, args...)
	cmd.Env = append(os.Environ(), chaos.StateDirEnv+"="+stateDir)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	Expect(err).NotTo(HaveOccurred())
	return string(out), 0
}

// doctorClean asserts `drill doctor --run ID` finds nothing.
func doctorClean(ctx context.Context) {
	GinkgoHelper()
	out, code := drill(ctx, "doctor", "--run", st.RunID())
	Expect(code).To(Equal(0), out)
}
