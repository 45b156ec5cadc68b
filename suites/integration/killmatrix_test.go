package integration_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/container"
	"github.com/aiuptime/aiuptime/chaos/disk"
	"github.com/aiuptime/aiuptime/chaos/gpu"
	"github.com/aiuptime/aiuptime/chaos/network"
	"github.com/aiuptime/aiuptime/chaos/process"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/containers"
)

// startInject starts `drill fault inject` on the suite's stack with args
// and the suite's state dir, its stderr to GinkgoWriter, and returns it
// with its stdout; it is killed when the spec ends.
func startInject(args ...string) (*exec.Cmd, io.Reader) {
	GinkgoHelper()
	args = append([]string{"fault", "inject", "--run", st.RunID(), "--hold", "5m"}, args...)
	cmd := exec.Command(drillBin, args...)
	cmd.Env = append(os.Environ(), chaos.StateDirEnv+"="+stateDir)
	cmd.Stderr = GinkgoWriter
	out, err := cmd.StdoutPipe()
	Expect(err).NotTo(HaveOccurred())
	Expect(cmd.Start()).To(Succeed())
	DeferCleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, out
}

// Kill matrix: a `drill fault inject` process applies each fault kind and
// is SIGKILLed mid-fault; `drill cleanup` must then restore everything and
// `drill doctor` must be clean.
var _ = Describe("kill matrix", Label("integration"), func() {
	matrix := []struct {
		kind, target string
		params       map[string]any
	}{
		{network.KindDelay, "model-0", map[string]any{"delay": "100ms"}},
		{network.KindLoss, "model-0", map[string]any{"percent": 10}},
		{network.KindBandwidth, "model-0", map[string]any{"rate": "1mbit"}},
		{network.KindPartition, "model-0", nil},
		{network.KindPartition, "model-1", map[string]any{"peer": "gateway"}},
		{gpu.KindKill, "model-0", nil},
		{gpu.KindHang, "model-0", nil},
		{disk.KindWipe, "model-1", map[string]any{"volume": "models"}},
		{disk.KindCorrupt, "model-1", map[string]any{"volume": "models"}},
		{disk.KindReadOnly, "gateway", map[string]any{"volume": "data"}},
		{disk.KindFull, "gateway", map[string]any{"volume": "data", "leave_bytes": 0}},
		{container.KindKill, "model-1", map[string]any{"signal": "KILL"}},
		{container.KindStop, "model-1", map[string]any{"timeout": "1s"}},
		{container.KindPause, "model-1", nil},
		{container.KindRestart, "model-1", map[string]any{"timeout": "1s"}},
		{container.KindRemove, "model-1", nil},
		{process.Kind, "model-0", map[string]any{"match": "EngineCore"}},
	}
	BeforeEach(func(ctx SpecContext) { healthy(ctx) }, NodeTimeout(2*time.Minute))

	It("covers every fault kind the embedded stack can run", func() {
		covered := map[string]bool{}
		for _, tc := range matrix {
			covered[tc.kind] = true
		}
		for _, k := range chaos.Kinds() {
			if len(stack.Missing(k.Needs, containers.Capabilities)) > 0 {
				// A Kubernetes kind (nodes, scale, Chaos Mesh objects): its
				// SIGKILL-then-replay test runs on the local cluster, in
				// chaos/kube and chaos/chaosmesh.
				continue
			}
			Expect(covered).To(HaveKey(k.Name), "the kill matrix misses fault kind "+k.Name)
		}
	})

	for _, tc := range matrix {
		name := tc.kind + " on " + tc.target
		if p, ok := tc.params["peer"]; ok {
			name += " (peer " + p.(string) + ")"
		}
		It(name+": SIGKILL mid-fault, then cleanup restores everything", func(ctx SpecContext) {
			params, _ := json.Marshal(tc.params)
			cmd, out := startInject("--kind", tc.kind, "--target", tc.target, "--params", string(params))
			injected := make(chan string, 1)
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					if strings.HasPrefix(sc.Text(), "INJECTED") {
						injected <- sc.Text()
					}
				}
				close(injected)
			}()
			var line string
			Eventually(ctx, injected).WithTimeout(60 * time.Second).Should(Receive(&line))
			Expect(line).NotTo(BeEmpty(), "drill fault inject exited before injecting")
			GinkgoWriter.Println(line)

			Expect(cmd.Process.Kill()).To(Succeed())
			_ = cmd.Wait()
			recs, err := chaos.ListRecords(chaos.JournalDir(stateDir))
			Expect(err).NotTo(HaveOccurred())
			Expect(recs).To(HaveLen(1), "the journal holds the SIGKILLed injection")

			dout, code := drill(ctx, "doctor", "--run", st.RunID())
			Expect(code).To(Equal(4), "doctor must report the leftover:\n"+dout)
			GinkgoWriter.Println(dout)

			cout, code := drill(ctx, "cleanup")
			Expect(code).To(Equal(0), cout)
			GinkgoWriter.Println(cout)

			healthy(ctx)
			doctorClean(ctx)
		}, SpecTimeout(3*time.Minute))
	}
})

// SIGTERM (and Ctrl-C) must revert in-process: exit 5, empty journal.
var _ = Describe("signal handling", Label("integration"), func() {
	It("drill fault inject reverts on SIGTERM and exits 5", func(ctx SpecContext) {
		healthy(ctx)
		cmd, out := startInject("--kind", network.KindPartition, "--target", "model-0")
		sc := bufio.NewScanner(out)
		Expect(sc.Scan()).To(BeTrue())
		Expect(sc.Text()).To(HavePrefix("INJECTED"))
		Expect(status(ctx, svcURL(ctx, "model-0")+"/health")).To(Equal(0), "partitioned")
		Expect(cmd.Process.Signal(syscall.SIGTERM)).To(Succeed())
		for sc.Scan() {
		}
		err := cmd.Wait()
		var ee *exec.ExitError
		Expect(errors.As(err, &ee)).To(BeTrue())
		Expect(ee.ExitCode()).To(Equal(5))
		recs, err := chaos.ListRecords(chaos.JournalDir(stateDir))
		Expect(err).NotTo(HaveOccurred())
		Expect(recs).To(BeEmpty())
		healthy(ctx)
		doctorClean(ctx)
	}, SpecTimeout(2*time.Minute))
})

var _ = context.Background
