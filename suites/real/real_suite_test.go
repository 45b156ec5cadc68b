// Package real_test drills real servers nobody on the team wrote: Ollama
// 0.17.4 built from source (make ollama-image), serving a model the project
// writes itself, behind the embedded gateway (stacks/ollama.yaml), and a
// docker compose project of two Ollama servers behind Caddy 2.11.9 that the
// drill attaches to (kind docker). The shipped plans run unchanged; the
// verdicts and the measured recovery are checked, and what the harness
// claims it did is checked against Ollama's own log.
package real_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/suites/internal/suitekit"
)

func TestReal(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Real Servers Suite", Label("real"))
}

// OllamaImage is the image `make ollama-image` builds.
const OllamaImage = "aiuptime/ollama:0.17.4"

// CaddyImage is the image `make caddy-image` builds.
const CaddyImage = "aiuptime/caddy:2.11.9"

var (
	drillBin string
	stateDir string
)

var _ = BeforeSuite(func(ctx SpecContext) {
	if os.Geteuid() != 0 {
		Skip("the real suite needs root (docker, network namespaces)")
	}
	for img, target := range map[string]string{OllamaImage: "ollama-image", CaddyImage: "caddy-image"} {
		if err := exec.CommandContext(ctx, "docker", "image", "inspect", img).Run(); err != nil {
			// make test builds both: without them a run by hand skips and
			// says how to get them; under make a missing image is a failure.
			if os.Getenv("AIUPTIME_BIN") == "" {
				Skip(img + " is missing: run `make " + target + "`")
			}
			Fail(img + " is missing although make should have built it (`make " + target + "`)")
		}
	}
	drillBin = suitekit.BuildDrill(ctx)
	stateDir = GinkgoT().TempDir()
}, NodeTimeout(5*time.Minute))

// drill runs the CLI with the suite's own state directory.
func drill(ctx context.Context, args ...string) suitekit.Run {
	GinkgoHelper()
	return suitekit.Drill(ctx, drillBin, []string{"AIUPTIME_STATE_DIR=" + stateDir}, args...)
}

// runPlan runs `drill run PLAN --now --stack STACK --out DIR` with extra
// arguments into a fresh DIR, and returns the report, DIR and the exit
// code. --now: quarterly-dr has a maintenance window, and the suite runs
// at any time.
func runPlan(ctx context.Context, plan, stackFile string, extra ...string) (reports.Report, string, int) {
	GinkgoHelper()
	out := filepath.Join(GinkgoT().TempDir(), "out")
	r := drill(ctx, append([]string{"run", plan, "--now", "--stack", stackFile, "--out", out}, extra...)...)
	return readReport(out), out, r.Code
}

// why says in one line why a run did not pass: its verdict, every step
// that did not pass with its error, and every objective not met, so a
// failure in CI names its cause without the report at hand.
func why(r reports.Report) string {
	parts := []string{fmt.Sprintf("verdict %s: %s", r.Verdict, r.VerdictReason)}
	for _, s := range r.Steps {
		if s.Status != "passed" {
			parts = append(parts, fmt.Sprintf("step %q %s: %s", s.Name, s.Status, s.Error))
		}
	}
	for _, o := range r.SLO {
		if !o.Compliant && !o.NotEvaluated {
			parts = append(parts, "slo "+o.Name+": "+o.Detail)
		}
	}
	return strings.Join(parts, "; ")
}

// readReport reads DIR/report.json.
func readReport(dir string) reports.Report {
	GinkgoHelper()
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	Expect(err).NotTo(HaveOccurred())
	var r reports.Report
	Expect(json.Unmarshal(b, &r)).To(Succeed())
	return r
}

// step returns the report's step called name.
func step(r reports.Report, name string) reports.Step {
	GinkgoHelper()
	for _, s := range r.Steps {
		if s.Name == name {
			return s
		}
	}
	Fail("no step " + name + " in the report")
	return reports.Step{}
}

// componentStep is the component recovery of service after the step
// called name.
func componentStep(r reports.Report, name, service string) reports.StepRecovery {
	GinkgoHelper()
	Expect(r.ComponentRecovery).NotTo(BeNil())
	for _, s := range r.ComponentRecovery.Steps {
		if s.Step == name && s.Service == service {
			return s
		}
	}
	Fail("no component recovery of " + service + " after " + name)
	return reports.StepRecovery{}
}

// modelVersions are the application versions in version_before of the
// report's model servers ("0.17.4 (sha256:d3ec1152659a)": the part before
// the image ID).
func modelVersions(r reports.Report) []string {
	var out []string
	for _, s := range r.Services {
		if s.Role == "model" {
			v, _, _ := strings.Cut(s.VersionBefore, " (")
			out = append(out, v)
		}
	}
	return out
}

// containerLog is a container's output (Ollama logs to stderr).
func containerLog(ctx context.Context, name string) string {
	GinkgoHelper()
	out, err := exec.CommandContext(ctx, "docker", "logs", name).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "docker logs %s: %s", name, out)
	return string(out)
}

// composeCmd runs docker-compose for project on a compose file, with extra
// environment.
func composeCmd(ctx context.Context, env []string, project, file string, args ...string) (string, error) {
	all := append([]string{"-p", project, "-f", file}, args...)
	cmd := exec.CommandContext(ctx, "docker-compose", all...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
