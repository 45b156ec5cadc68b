package dr_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aiuptime/aiuptime/backup"
	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/disk"
	"github.com/aiuptime/aiuptime/rollout"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/containers"
)

func asJSON(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// RTOSLO is the recovery time objective for a lost model volume.
const RTOSLO = 60 * time.Second

func containerIDs(ctx context.Context) map[string]string {
	GinkgoHelper()
	svcs, err := st.Services(ctx)
	Expect(err).NotTo(HaveOccurred())
	out := map[string]string{}
	for _, s := range svcs {
		out[s.Name] = s.ContainerID
	}
	return out
}

// expectDeployments expects the gateway to route to model-0 and model-1
// only, as before any rollout.
func expectDeployments(ctx context.Context, r *rollout.Rollouter) {
	GinkgoHelper()
	ms, err := r.Admin().Models(ctx)
	Expect(err).NotTo(HaveOccurred())
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.ID())
	}
	sort.Strings(ids)
	Expect(ids).To(Equal([]string{"model-0", "model-1"}))
}

// expectVersion expects the service to report the server version.
func expectVersion(ctx context.Context, service, version string) {
	GinkgoHelper()
	svc, err := st.Service(ctx, service)
	Expect(err).NotTo(HaveOccurred())
	Expect(stack.ServiceVersion(ctx, svc).Version).To(Equal(version))
}

// settled waits until the probe has seen a few good seconds through the gateway.
func settled(ctx context.Context) {
	GinkgoHelper()
	Eventually(ctx, func() int {
		now := time.Now()
		s := traffic.Stats(now.Add(-2*time.Second), now, "", true)
		if s.Total < 10 {
			return -1
		}
		return s.Failed
	}).WithTimeout(90 * time.Second).WithPolling(500 * time.Millisecond).Should(Equal(0))
}

// canary rolls a canary of a release with args through the weights,
// analysed every 4 s and promoted by a rolling update, expects the
// decision, and puts the evidence in the report under name.
func canary(ctx context.Context, r *rollout.Rollouter, name string, weights []float64, decision string, args ...string) *rollout.CanaryResult {
	GinkgoHelper()
	an := rollout.DefaultAnalysis()
	an.Interval = 4 * time.Second
	res, err := r.Canary(ctx, rollout.Release{Args: args}, weights, an, true)
	Expect(err).NotTo(HaveOccurred())
	Expect(res.Report.Decision).To(Equal(decision), "%v", res.Report.Evidence)
	AddReportEntry(name+" evidence", res.Report.Evidence)
	return res
}

// wipe empties the service's volume of the purpose with the disk-wipe
// fault, reverted when the spec ends, and returns the volume.
func wipe(ctx context.Context, service, purpose string) stack.Volume {
	GinkgoHelper()
	tgt, err := st.Volume(ctx, service, purpose)
	Expect(err).NotTo(HaveOccurred())
	revert, err := (&disk.Wipe{Spec: disk.Spec{Volume: purpose}, Target: disk.Target{Service: service, HostPath: tgt.HostPath, MountPath: tgt.MountPath}, Deps: chaos.Deps{Journal: journal, Log: log, RunID: st.RunID()}}).Inject(ctx)
	DeferCleanup(func(ctx context.Context) { _ = revert(context.WithoutCancel(ctx)) })
	Expect(err).NotTo(HaveOccurred())
	return tgt
}

var _ = Describe("updates and disaster recovery", Ordered, Label("dr"), func() {
	BeforeEach(func(ctx SpecContext) { settled(ctx) }, NodeTimeout(2*time.Minute))

	It("rolls every replica to a patched server with zero failed requests", func(ctx SpecContext) {
		r := newRollouter(ctx)
		res, err := r.RollingUpdate(ctx, nil, rollout.Release{Args: []string{"--server-version", "0.10.3"}})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Report.Decision).To(Equal(rollout.DecisionCompleted))
		Expect(res.Report.FailedRequests).To(BeZero(), "%v", res.Report.Evidence)
		for _, t := range res.Replicas {
			AddReportEntry("rolling update "+t.Service, fmt.Sprintf("drain %s replace %s verify %s total %s", t.Drain, t.Replace, t.Verify, t.Total))
		}
		expectVersion(ctx, "model-0", "0.10.3")
		expectDeployments(ctx, r)
	}, SpecTimeout(3*time.Minute))

	It("refuses an image that does not exist and leaves the stack untouched", func(ctx SpecContext) {
		r := newRollouter(ctx)
		before := containerIDs(ctx)
		_, err := r.RollingUpdate(ctx, nil, rollout.Release{Image: "aiuptime/does-not-exist:0"})
		Expect(err).To(MatchError(rollout.ErrImageNotFound))
		Expect(err.Error()).To(ContainSubstring("aiuptime/does-not-exist:0"))
		Expect(containerIDs(ctx)).To(Equal(before))
		expectDeployments(ctx, r)
	}, SpecTimeout(time.Minute))

	It("stops a rolling update at a replica failing its golden check and rolls it back", func(ctx SpecContext) {
		r := newRollouter(ctx)
		before := containerIDs(ctx)
		res, err := r.RollingUpdate(ctx, nil, rollout.Release{Args: []string{"--error-rate", "1"}})
		Expect(err).To(HaveOccurred())
		Expect(res).NotTo(BeNil())
		Expect(res.Report.Decision).To(Equal(rollout.DecisionRolledBack), "%v", res.Report.Evidence)
		Expect(res.Report.FailedRequests).To(BeZero())
		after := containerIDs(ctx)
		Expect(after["model-0"]).NotTo(Equal(before["model-0"]), "model-0 was replaced and rolled back")
		Expect(after["model-1"]).To(Equal(before["model-1"]), "the rollout stopped before model-1")
		svc, err := st.Service(ctx, "model-0")
		Expect(err).NotTo(HaveOccurred())
		_, err = rollout.Golden(ctx, svc, "", rollout.DefaultGoldenPrompt)
		Expect(err).NotTo(HaveOccurred(), "model-0 serves the original release again")
		expectDeployments(ctx, r)
	}, SpecTimeout(3*time.Minute))

	It("switches to green in one admin step and rolls back to blue", func(ctx SpecContext) {
		r := newRollouter(ctx)
		res, err := r.BlueGreen(ctx, rollout.Release{Args: []string{"--server-version", "0.10.4"}}, 3*time.Second)
		Expect(err).NotTo(HaveOccurred())
		rep := res.Report
		Expect(rep.Decision).To(Equal(rollout.DecisionRolledBack), "%v", rep.Evidence)
		Expect(rep.SwitchSeconds).NotTo(BeNil())
		Expect(rep.RollbackSeconds).NotTo(BeNil())
		Expect(rep.FailedRequests).To(BeZero())
		AddReportEntry("blue-green", fmt.Sprintf("switch %.3fs rollback %.3fs", *rep.SwitchSeconds, *rep.RollbackSeconds))
		expectDeployments(ctx, r)
		_, err = st.Service(ctx, "model-0"+rollout.GreenSuffix)
		Expect(err).To(MatchError(stack.ErrNotFound))
	}, SpecTimeout(3*time.Minute))

	It("rolls a canary with a bad release (50% errors) back automatically", func(ctx SpecContext) {
		r := newRollouter(ctx)
		res := canary(ctx, r, "bad canary", []float64{25, 50, 100}, rollout.DecisionRolledBack, "--error-rate", "0.5")
		Expect(res.Promoted).To(BeFalse())
		expectDeployments(ctx, r)
		_, err := st.Service(ctx, rollout.DefaultCanaryService)
		Expect(err).To(MatchError(stack.ErrNotFound))
	}, SpecTimeout(3*time.Minute))

	It("rolls a slow canary (+500ms) back automatically", func(ctx SpecContext) {
		canary(ctx, newRollouter(ctx), "slow canary", []float64{25, 100}, rollout.DecisionRolledBack, "--extra-latency", "500ms")
	}, SpecTimeout(3*time.Minute))

	It("promotes a canary with a good release", func(ctx SpecContext) {
		r := newRollouter(ctx)
		canary(ctx, r, "good canary", []float64{25, 100}, rollout.DecisionPromoted, "--server-version", "0.10.5")
		expectVersion(ctx, "model-1", "0.10.5")
		expectDeployments(ctx, r)
	}, SpecTimeout(4*time.Minute))

	It("updates the gateway with a second instance serving meanwhile", func(ctx SpecContext) {
		r := newRollouter(ctx)
		before := containerIDs(ctx)
		rep, err := r.GatewayUpdate(ctx, rollout.Release{})
		Expect(err).NotTo(HaveOccurred())
		Expect(rep.Decision).To(Equal(rollout.DecisionCompleted), "%v", rep.Evidence)
		Expect(containerIDs(ctx)[containers.ServiceGateway]).NotTo(Equal(before[containers.ServiceGateway]))
		_, err = st.Service(ctx, containers.ServiceGateway+rollout.NextGatewaySuffix)
		Expect(err).To(MatchError(stack.ErrNotFound))
		AddReportEntry("gateway update", asJSON(rep))
		gw, err = st.Service(ctx, containers.ServiceGateway)
		Expect(err).NotTo(HaveOccurred())
	}, SpecTimeout(3*time.Minute))

	Context("backup and restore", func() {
		var snap string

		It("captures a command's stdout from a container as a backup source (the pg_dump mechanism)", func(ctx SpecContext) {
			dir := filepath.Join(stateDir, "snap-command")
			m, err := backup.Snapshot(ctx, dir, "test", backup.Command{ID: "gpu-apps", Stack: st, Service: "model-0",
				Cmd: []string{"nvidia-smi", "--query-compute-apps=pid,process_name,used_memory", "--format=csv"}, File: "apps.csv"})
			Expect(err).NotTo(HaveOccurred())
			Expect(m.Entries).To(HaveLen(1))
			b, err := os.ReadFile(filepath.Join(dir, "gpu-apps", "apps.csv"))
			Expect(err).NotTo(HaveOccurred())
			Expect(string(b)).To(HavePrefix("pid, process_name, used_gpu_memory [MiB]"))
			_, err = backup.Verify(dir)
			Expect(err).NotTo(HaveOccurred())
			_, err = backup.Snapshot(ctx, filepath.Join(stateDir, "snap-command-bad"), "test", backup.Command{ID: "bad", Stack: st,
				Service: "model-0", Cmd: []string{"/aiuptime-modelserver", "no-such-subcommand"}})
			Expect(err).To(MatchError(ContainSubstring("exited")))
		}, SpecTimeout(time.Minute))

		It("restores a wiped model volume within the RTO objective, golden prompt identical", func(ctx SpecContext) {
			snap = filepath.Join(stateDir, "snap-models")
			m, err := backup.BackupStack(ctx, snap, st, backup.WithLogger(log))
			Expect(err).NotTo(HaveOccurred())
			Expect(m.Entries).NotTo(BeEmpty())
			disaster := time.Now()
			tgt := wipe(ctx, "model-1", stack.VolumeModels)
			ents, _ := os.ReadDir(tgt.HostPath)
			Expect(len(ents)).To(BeNumerically("<=", 1)) // lost+found at most
			dr, err := backup.Restore(ctx, snap, st, backup.WithOnly("model-1"), backup.WithDisasterAt(disaster), backup.WithLogger(log))
			Expect(err).NotTo(HaveOccurred())
			Expect(dr.RTOSeconds).NotTo(BeNil())
			Expect(*dr.RTOSeconds).To(BeNumerically("<", RTOSLO.Seconds()))
			Expect(dr.GoldenPromptMatch).To(HaveValue(BeTrue()))
			AddReportEntry("model volume restore", asJSON(dr))
		}, SpecTimeout(4*time.Minute))

		It("restores a lost gateway database with an RPO bounded by the backup's age", func(ctx SpecContext) {
			snap = filepath.Join(stateDir, "snap-data")
			m, err := backup.BackupStack(ctx, snap, st, backup.WithLogger(log))
			Expect(err).NotTo(HaveOccurred())
			info, _ := m.SourceInfo(backup.SourceGatewayDB)
			rows, ok := backup.SpendStatsRows(info)
			Expect(ok).To(BeTrue())
			Expect(rows).To(BeNumerically(">", 0))
			// Traffic keeps writing spend-log rows after the backup.
			Eventually(ctx, func() int64 {
				s, _ := backup.GatewayDB(ctx, gw, st.APIKey())
				return s.Rows - rows
			}).WithTimeout(30 * time.Second).Should(BeNumerically(">=", 20))
			wipe(ctx, gw.Name, stack.VolumeData)
			age := time.Since(m.CreatedAt)
			dr, err := backup.Restore(ctx, snap, st, backup.WithOnly("data"), backup.WithLogger(log))
			Expect(err).NotTo(HaveOccurred())
			Expect(dr.RPORows).To(HaveValue(BeNumerically(">", 0)))
			Expect(dr.RPOSeconds).To(HaveValue(BeNumerically("<=", age.Seconds()+1)))
			after, err := backup.GatewayDB(ctx, gw, st.APIKey())
			Expect(err).NotTo(HaveOccurred())
			Expect(after.Rows).To(BeNumerically(">=", rows))
			AddReportEntry("gateway database restore", asJSON(dr))
		}, SpecTimeout(3*time.Minute))

		It("restores a changed gateway config and restarts the gateway on it", func(ctx SpecContext) {
			dir := filepath.Join(stateDir, "snap-config")
			m, err := backup.BackupStack(ctx, dir, st, backup.WithLogger(log))
			Expect(err).NotTo(HaveOccurred())
			ci, ok := m.SourceInfo(backup.SourceGatewayConfig)
			Expect(ok).To(BeTrue())
			orig, err := os.ReadFile(ci.From)
			Expect(err).NotTo(HaveOccurred())
			Expect(os.WriteFile(ci.From, append(append([]byte(nil), orig...), []byte("\n# drifted\n")...), 0o600)).To(Succeed())
			dr, err := backup.Restore(ctx, dir, st, backup.WithOnly("config"), backup.WithLogger(log))
			Expect(err).NotTo(HaveOccurred())
			Expect(os.ReadFile(ci.From)).To(Equal(orig))
			Expect(dr.Notes).To(ContainElement(ContainSubstring("gateway config restored")))
			gw, err = st.Service(ctx, "gateway")
			Expect(err).NotTo(HaveOccurred())
		}, SpecTimeout(2*time.Minute))

		It("refuses a corrupt backup naming the file, and leaves the stack untouched", func(ctx SpecContext) {
			m, err := backup.Read(snap)
			Expect(err).NotTo(HaveOccurred())
			var victim string
			for _, e := range m.Entries {
				if e.Source == backup.SourceGatewayDB {
					victim = e.Path
				}
			}
			p := filepath.Join(snap, filepath.FromSlash(victim))
			b, err := os.ReadFile(p)
			Expect(err).NotTo(HaveOccurred())
			b[len(b)/2] ^= 0xff
			Expect(os.WriteFile(p, b, 0o600)).To(Succeed())
			before := containerIDs(ctx)
			_, err = backup.Restore(ctx, snap, st)
			Expect(errors.Is(err, backup.ErrCorrupt)).To(BeTrue(), "%v", err)
			Expect(err.Error()).To(ContainSubstring(victim))
			Expect(containerIDs(ctx)).To(Equal(before))
			_, err = backup.Restore(ctx, filepath.Join(stateDir, "no-such-backup"), st)
			Expect(err).To(MatchError(backup.ErrNotFound))
		}, SpecTimeout(time.Minute))
	})
})
