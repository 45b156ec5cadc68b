package functional_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/containers"
	"github.com/aiuptime/aiuptime/suites/internal/suitekit"
)

var _ = Describe("drill stack", Ordered, Label("cli"), func() {
	var bin string
	BeforeAll(func(ctx SpecContext) { bin = suitekit.BuildDrill(ctx) }, NodeTimeout(5*time.Minute))

	It("up --json prints the contract, serves, and down leaves nothing", func(ctx SpecContext) {
		runID := fmt.Sprintf("fncli%d", time.Now().UnixNano()%1000000)
		if len(runID) > 32 {
			runID = runID[:32]
		}
		DeferCleanup(func(ctx SpecContext) { // also when a step below fails
			_ = exec.CommandContext(ctx, bin, "stack", "down", "--run", runID).Run()
		}, NodeTimeout(2*time.Minute))

		start := time.Now()
		up := exec.CommandContext(ctx, bin, "stack", "up", "--json", "--run", runID)
		var stdout, stderr bytes.Buffer
		up.Stdout, up.Stderr = &stdout, &stderr
		Expect(up.Run()).To(Succeed(), "drill stack up: %s", stderr.String())
		AddReportEntry("drill stack up (to all healthy)", time.Since(start).String())

		var got struct {
			Gateway   string `json:"gateway"`
			APIKey    string `json:"api_key"`
			ModelName string `json:"model_name"`
			RunID     string `json:"run_id"`
			Models    []struct {
				Name, URL, Container string
			} `json:"models"`
		}
		var raw map[string]json.RawMessage
		Expect(json.Unmarshal(stdout.Bytes(), &raw)).To(Succeed(), "stdout is one JSON object: %s", stdout.String())
		for _, k := range []string{"gateway", "api_key", "models", "model_name"} {
			Expect(raw).To(HaveKey(k))
		}
		Expect(json.Unmarshal(stdout.Bytes(), &got)).To(Succeed())
		Expect(got.RunID).To(Equal(runID))
		Expect(got.APIKey).NotTo(BeEmpty())
		Expect(stderr.String()).NotTo(ContainSubstring(got.APIKey), "the key is logged")
		Expect(got.Models).To(HaveLen(containers.DefaultReplicas))
		for _, m := range got.Models {
			Expect(m.Container).To(HaveLen(64))
			code, _, _ := getBody(ctx, m.URL+"/health")
			Expect(code).To(Equal(http.StatusOK))
		}
		code, _, _ := getBody(ctx, got.Gateway+"/health", "Authorization", "Bearer "+got.APIKey)
		Expect(code).To(Equal(http.StatusOK))
		Expect(countLabelled(ctx, runID)).To(BeNumerically(">=", 1+containers.DefaultReplicas))

		down := exec.CommandContext(ctx, bin, "stack", "down", "--run", runID)
		out, err := down.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "drill stack down: %s", out)
		Expect(string(out)).To(ContainSubstring("removed container aiuptime-" + runID + "-gateway"))
		left := countLabelled(ctx, runID)
		AddReportEntry("containers, networks and volumes left after drill stack down", left)
		Expect(left).To(BeZero())
	}, SpecTimeout(5*time.Minute))

	It("names DOCKER_HOST and exits 3 when Docker is unreachable", func(ctx SpecContext) {
		cmd := exec.CommandContext(ctx, bin, "stack", "up", "--json")
		cmd.Env = append(os.Environ(), "DOCKER_HOST=unix:///nonexistent/docker.sock")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		Expect(errors.As(err, &exit)).To(BeTrue(), "drill stack up succeeded without Docker")
		Expect(exit.ExitCode()).To(Equal(3))
		Expect(stderr.String()).To(ContainSubstring("docker is not reachable"))
		Expect(stderr.String()).To(ContainSubstring(`DOCKER_HOST="unix:///nonexistent/docker.sock"`))
		Expect(stdout.String()).To(BeEmpty())
	}, SpecTimeout(time.Minute))

	It("rejects a bad stack file with file:line and exit 2", func(ctx SpecContext) {
		f := filepath.Join(GinkgoT().TempDir(), "bad.yaml")
		Expect(os.WriteFile(f, []byte("kind: containers\nreplicas: 1\nproxy: sometimes\n"), 0o644)).To(Succeed())
		out, err := exec.CommandContext(ctx, bin, "stack", "up", "--stack", f).CombinedOutput()
		var exit *exec.ExitError
		Expect(errors.As(err, &exit)).To(BeTrue())
		Expect(exit.ExitCode()).To(Equal(2))
		Expect(string(out)).To(ContainSubstring(f + ":3:8: proxy: \"sometimes\": want auto, always or never"))
	}, SpecTimeout(time.Minute))

	It("up --stack with kind endpoints lists the given URLs and creates nothing", func(ctx SpecContext) {
		f := filepath.Join(GinkgoT().TempDir(), "endpoints.yaml")
		yaml := fmt.Sprintf("kind: endpoints\nmodel_name: %s\napi_key_env: FUNCTIONAL_GW_KEY\nendpoints:\n"+
			"  - {name: gateway, role: gateway, url: %q}\n", env.ModelName, env.Gateway.URL)
		for _, m := range env.Models {
			yaml += fmt.Sprintf("  - {name: %s, role: model, url: %q}\n", m.Name, m.URL)
		}
		Expect(os.WriteFile(f, []byte(yaml), 0o644)).To(Succeed())
		cmd := exec.CommandContext(ctx, bin, "stack", "up", "--json", "--stack", f)
		cmd.Env = append(os.Environ(), "FUNCTIONAL_GW_KEY="+env.Gateway.Key)
		out, err := cmd.Output()
		Expect(err).NotTo(HaveOccurred())
		var got struct {
			Gateway, APIKey string
			RunID           string `json:"run_id"`
			Models          []struct{ Name, URL, Container string }
		}
		Expect(json.Unmarshal(out, &got)).To(Succeed())
		Expect(got.Gateway).To(Equal(env.Gateway.URL))
		Expect(got.RunID).To(BeEmpty())
		Expect(got.Models).To(HaveLen(len(env.Models)))
		for _, m := range got.Models {
			Expect(m.Container).To(BeEmpty(), "an endpoints stack has no containers")
		}
	}, SpecTimeout(time.Minute))

	It("up --stack with kind containers applies replicas and proxy mode", func(ctx SpecContext) {
		f := filepath.Join(GinkgoT().TempDir(), "small.yaml")
		Expect(os.WriteFile(f, []byte("kind: containers\nreplicas: 1\nproxy: never\nmodel: {size: 1MiB}\n"), 0o644)).To(Succeed())
		runID := fmt.Sprintf("fnsf%d", time.Now().UnixNano()%1000000)
		DeferCleanup(func(ctx SpecContext) {
			out, err := exec.CommandContext(ctx, bin, "stack", "down", "--run", runID).CombinedOutput()
			Expect(err).NotTo(HaveOccurred(), "%s", out)
			Expect(countLabelled(ctx, runID)).To(BeZero())
		}, NodeTimeout(2*time.Minute))
		out, err := exec.CommandContext(ctx, bin, "stack", "up", "--json", "--stack", f, "--run", runID).Output()
		Expect(err).NotTo(HaveOccurred())
		var got struct {
			Models       []struct{ Name string }
			Capabilities stack.Setup
		}
		Expect(json.Unmarshal(out, &got)).To(Succeed())
		Expect(got.Models).To(HaveLen(1))
		Expect(got.Capabilities.Proxy).To(BeFalse())
		Expect(got.Capabilities.ProxyMode).To(Equal("never"))
	}, SpecTimeout(3*time.Minute))
})

// countLabelled counts containers, networks and volumes of a run.
func countLabelled(ctx context.Context, runID string) int {
	GinkgoHelper()
	rs, err := containers.Resources(ctx, runID)
	Expect(err).NotTo(HaveOccurred())
	return len(rs)
}
