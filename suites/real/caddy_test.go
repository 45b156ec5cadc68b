package real_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aiuptime/aiuptime/internal/fixturebin"
)

// A deployment the harness did not create: stacks/ollama-caddy, two Ollama
// servers behind Caddy as an L7 failover gateway, brought up with
// docker-compose as its operators would, and drilled through `kind:
// docker` (the drill attaches, creates nothing and removes nothing).
var _ = Describe("Ollama behind Caddy, a compose project the drill attaches to", Label("caddy"), Ordered, func() {
	var (
		project, stackFile string
		containers         []string
	)

	BeforeAll(func(ctx SpecContext) {
		root, err := fixturebin.ModuleRoot()
		Expect(err).NotTo(HaveOccurred())
		compose := filepath.Join(root, "stacks/ollama-caddy/compose.yaml")
		project = fmt.Sprintf("aiuptime-real-%d", os.Getpid())
		// The gateway's host port is fixed for the project's life (a
		// restarted Caddy must be where the probe looks): a free one.
		env := []string{fmt.Sprintf("GATEWAY_PORT=%d", freePort())}
		DeferCleanup(func(ctx context.Context) {
			out, err := composeCmd(ctx, env, project, compose, "down", "-v", "--remove-orphans")
			Expect(err).NotTo(HaveOccurred(), out)
		}, NodeTimeout(2*time.Minute))
		out, err := composeCmd(ctx, env, project, compose, "up", "-d")
		Expect(err).NotTo(HaveOccurred(), out)
		containers = projectContainers(ctx, project)
		Expect(containers).To(HaveLen(3))

		stackFile = filepath.Join(GinkgoT().TempDir(), "ollama-caddy.yaml")
		Expect(os.WriteFile(stackFile, []byte(fmt.Sprintf(`kind: docker
model_name: tiny:latest
model_server: ollama
docker:
  project: %s
`, project)), 0o644)).To(Succeed())
		Eventually(func(ctx context.Context) int {
			return drill(ctx, "validate", "plans/container-loss.yaml", "--stack", stackFile).Code
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Equal(0))
	}, NodeTimeout(4*time.Minute))

	It("passes container-loss through Caddy: killed, paused and stopped Ollama servers are failed over, the restarted gateway is a short outage", func(ctx SpecContext) {
		rep, _, code := runPlan(ctx, "plans/container-loss.yaml", stackFile)
		Expect(code).To(Equal(0), "drill exit code (%s)", why(rep))
		Expect(rep.Capabilities.StackKind).To(Equal("docker"))
		Expect(modelVersions(rep)).To(Equal([]string{"0.17.4", "0.17.4"}))
		By("recovery was measured: the gateway restart is an outage with an MTTR")
		Expect(rep.MTTRSeconds).NotTo(BeNil())
		Expect(componentStep(rep, "restart the gateway", "gateway").RecoverySeconds).To(HaveValue(BeNumerically(">", 0)))
		Expect(componentStep(rep, "kill model-0", "model-0").Ongoing).To(BeFalse())
		By("the drill created and removed nothing: the project's containers are the three it started with")
		Expect(projectContainers(ctx, project)).To(Equal(containers))
	}, SpecTimeout(12*time.Minute))
})

// freePort is a free TCP port on 127.0.0.1 for the project's gateway.
func freePort() int {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// projectContainers lists the IDs of a compose project's containers, sorted.
func projectContainers(ctx context.Context, project string) []string {
	GinkgoHelper()
	out, err := exec.CommandContext(ctx, "docker", "ps", "-aq", "--no-trunc", "--filter", "label=com.docker.compose.project="+project).Output()
	Expect(err).NotTo(HaveOccurred())
	ids := strings.Fields(string(out))
	sort.Strings(ids)
	return ids
}
