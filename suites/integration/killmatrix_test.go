package integration_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/faults"
)

// Kill matrix: a `drill fault inject` process applies each fault kind and
// is SIGKILLed mid-fault; `drill cleanup` must then restore everything and
// `drill doctor` must be clean.
var _ = Describe("kill matrix", Label("integration"), func() {
	matrix := []struct {
		kind, target string
		params       map[string]any
	}{
		{faults.NetworkDelay, "model-0", map[string]any{"delay": "100ms"}},
		{faults.NetworkLoss, "model-0", map[string]any{"percent": 10}},
		{faults.NetworkBandwidth, "model-0", map[string]any{"rate": "1mbit"}},
		{faults.NetworkPartition, "model-0", nil},
		{faults.NetworkPartition, "model-1", map[string]any{"peer": "gateway"}},
		{faults.GPUKill, "model-0", nil},
		{faults.GPUHang, "model-0", nil},
		{faults.DiskWipe, "model-1", map[string]any{"volume": "models"}},
		{faults.DiskCorrupt, "model-1", map[string]any{"volume": "models"}},
		{faults.DiskReadOnly, "gateway", map[string]any{"volume": "data"}},
		{faults.DiskFull, "gateway", map[string]any{"volume": "data", "leave_bytes": 0}},
		{faults.ContainerKill, "model-1", map[string]any{"signal": "KILL"}},
		{faults.ContainerStop, "model-1", map[string]any{"timeout": "1s"}},
		{faults.ContainerPause, "model-1", nil},
		{faults.ContainerRestart, "model-1", map[string]any{"timeout": "1s"}},
		{faults.ContainerRemove, "model-1", nil},
	}
	BeforeEach(func(ctx SpecContext) { healthy(ctx) }, NodeTimeout(2*time.Minute))

	for _, tc := range matrix {
		name := tc.kind + " on " + tc.target
		if p, ok := tc.params["peer"]; ok {
			name += " (peer " + p.(string) + ")"
		}
		It(name+": SIGKILL mid-fault, then cleanup restores everything", func(ctx SpecContext) {
			svcs, err := st.Services(ctx)
			Expect(err).NotTo(HaveOccurred())
			b, _ := json.Marshal(svcs)
			file := filepath.Join(GinkgoT().TempDir(), "services.json")
			Expect(os.WriteFile(file, b, 0o600)).To(Succeed())
			params, _ := json.Marshal(tc.params)
			cmd := exec.Command(drillBin, "fault", "inject", "--kind", tc.kind, "--target", tc.target, "--run", st.RunID(),
				"--services", file, "--params", string(params), "--hold", "5m")
			cmd.Env = append(os.Environ(), chaos.StateDirEnv+"="+stateDir)
			cmd.Stderr = GinkgoWriter
			out, err := cmd.StdoutPipe()
			Expect(err).NotTo(HaveOccurred())
			Expect(cmd.Start()).To(Succeed())
			DeferCleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
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
		svcs, err := st.Services(ctx)
		Expect(err).NotTo(HaveOccurred())
		b, _ := json.Marshal(svcs)
		file := filepath.Join(GinkgoT().TempDir(), "services.json")
		Expect(os.WriteFile(file, b, 0o600)).To(Succeed())
		cmd := exec.Command(drillBin, "fault", "inject", "--kind", faults.NetworkPartition, "--target", "model-0", "--run", st.RunID(),
			"--services", file, "--hold", "5m")
		cmd.Env = append(os.Environ(), chaos.StateDirEnv+"="+stateDir)
		cmd.Stderr = GinkgoWriter
		out, err := cmd.StdoutPipe()
		Expect(err).NotTo(HaveOccurred())
		Expect(cmd.Start()).To(Succeed())
		DeferCleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		sc := bufio.NewScanner(out)
		Expect(sc.Scan()).To(BeTrue())
		Expect(sc.Text()).To(HavePrefix("INJECTED"))
		Expect(status(ctx, svcURL(ctx, "model-0")+"/health")).To(Equal(0), "partitioned")
		Expect(cmd.Process.Signal(syscall.SIGTERM)).To(Succeed())
		for sc.Scan() {
		}
		err = cmd.Wait()
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
