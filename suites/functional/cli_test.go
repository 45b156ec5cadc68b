package functional_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/containers"
)

var _ = Describe("drill stack up/down", Label("cli"), func() {
	It("prints the JSON contract, serves, and leaves nothing after down", func(ctx SpecContext) {
		gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
		Expect(err).NotTo(HaveOccurred())
		root := filepath.Dir(string(bytes.TrimSpace(gomod)))
		bin := filepath.Join(GinkgoT().TempDir(), "drill")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/drill")
		build.Dir = root
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := build.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "go build ./cmd/drill: %s", out)

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
		out, err = down.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "drill stack down: %s", out)
		Expect(string(out)).To(ContainSubstring("removed container aiuptime-" + runID + "-gateway"))
		left := countLabelled(ctx, runID)
		AddReportEntry("containers, networks and volumes left after drill stack down", left)
		Expect(left).To(BeZero())
	}, SpecTimeout(8*time.Minute))
})

// countLabelled counts containers, networks and volumes of a run.
func countLabelled(ctx context.Context, runID string) int {
	GinkgoHelper()
	cli, err := containers.Connect(ctx)
	Expect(err).NotTo(HaveOccurred())
	defer cli.Close()
	f := filters.NewArgs(filters.Arg("label", stack.LabelRun+"="+runID))
	c, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	Expect(err).NotTo(HaveOccurred())
	n, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	Expect(err).NotTo(HaveOccurred())
	v, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	Expect(err).NotTo(HaveOccurred())
	return len(c) + len(n) + len(v.Volumes)
}
