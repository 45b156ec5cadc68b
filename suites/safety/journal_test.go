package safety_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/chaostest"
	"github.com/aiuptime/aiuptime/internal/procfs"
	"github.com/aiuptime/aiuptime/stack"
)

// crashedPause pauses model-1 of the shared stack with `drill fault
// inject` and SIGKILLs it mid-fault: the pause stays in force and only the
// journal in stateDir knows it.
func crashedPause(ctx context.Context, stateDir string) {
	GinkgoHelper()
	p := startDrill(GinkgoT().TempDir(), stateDir, nil, injectArgs("container-pause", "model-1", nil, 5*time.Minute)...)
	Eventually(ctx, p.stdout.String).WithTimeout(time.Minute).WithPolling(50*time.Millisecond).Should(ContainSubstring("INJECTED"),
		"drill fault inject never injected: %s", p.stderr.String())
	Expect(p.cmd.Process.Signal(syscall.SIGKILL)).To(Succeed())
	Expect(p.wait(ctx).code).To(Equal(-1), "SIGKILLed")
	rs, err := shared.RunState(ctx, "model-1")
	Expect(err).NotTo(HaveOccurred())
	Expect(rs.Paused).To(BeTrue(), "the SIGKILLed drill's pause is in force")
}

// plantRecords writes into the journal of stateDir, beside the crashed
// drill's record: a file that is no record, two records of the shared
// run by a dead owner crafted to act outside model-0's volume (vol), and
// a record of a live owner (this process) that would overwrite the file
// outside. It returns the live record's id and run.
func plantRecords(stateDir, vol, outsideDir, outside string) (liveID, liveRun string) {
	GinkgoHelper()
	j, err := chaos.OpenJournal(chaos.WithStateDir(stateDir))
	Expect(err).NotTo(HaveOccurred())
	Expect(os.WriteFile(filepath.Join(j.Dir(), chaos.NewID()+".json"), []byte(`{"id": "torn-write", "kind": "disk-wi`), 0o600)).To(Succeed())
	labels := map[string]string{stack.LabelRun: su.Run}
	// If trusted, a wipe's restore would copy the "snapshot" into the volume
	// and then delete it: the directory outside.
	chaostest.Plant(GinkgoTB(), j, chaos.Record{RunID: su.Run, Labels: labels, Kind: "disk-wipe", Target: "model-0", Reverter: "disk/wipe"},
		map[string]any{"root": vol, "volume": vol, "snapshot": outsideDir})
	// If trusted, a corrupt's revert would write its "original" bytes into the file outside.
	chaostest.Plant(GinkgoTB(), j, chaos.Record{RunID: su.Run, Labels: labels, Kind: "disk-corrupt", Target: "model-0", Reverter: "disk/corrupt"},
		map[string]any{"file": outside, "volume": vol, "offset": 0, "original": []byte("XXXXXXXX")})

	self, err := procfs.Self()
	Expect(err).NotTo(HaveOccurred())
	liveRun = fmt.Sprintf("safety-live-%d", os.Getpid())
	state, err := json.Marshal(map[string]any{"file": outside, "volume": outsideDir, "offset": 0, "original": []byte("XXXXXXXX")})
	Expect(err).NotTo(HaveOccurred())
	live := chaos.Record{ID: chaos.NewID(), RunID: liveRun, Labels: map[string]string{stack.LabelRun: liveRun}, Kind: "disk-corrupt",
		Target: "model-0", Reverter: "disk/corrupt", Created: time.Now().UTC(), Owner: self.PID, OwnerStart: self.Start, OwnerBoot: self.Boot, State: state}
	Expect(j.Write(live)).To(Succeed())
	DeferCleanup(j.Remove, live.ID)
	return live.ID, liveRun
}

var _ = Describe("journal", Label("journal"), func() {
	It("quarantines a corrupt and crafted records, still reverts the crashed drill's fault and leaves a live drill's record alone", func(ctx SpecContext) {
		state := newStateDir()
		vol, err := shared.Volume(ctx, "model-0", stack.VolumeModels)
		Expect(err).NotTo(HaveOccurred())
		outsideDir, outside := preciousFile()
		before, volBefore := printOf(outside), treeprint(vol.HostPath)
		DeferCleanup(func(ctx SpecContext) {
			if rs, err := shared.RunState(ctx, "model-1"); err == nil && rs.Paused {
				runDrill(ctx, GinkgoT().TempDir(), state, nil, "cleanup", "--run", su.Run, "--force", "--no-docker")
			}
		}, NodeTimeout(time.Minute))

		crashedPause(ctx, state)
		liveID, liveRun := plantRecords(state, vol.HostPath, outsideDir, outside)

		By("drill doctor: findings grouped by run, the live one said live")
		doc := runDrill(ctx, GinkgoT().TempDir(), state, nil, "doctor", "--no-docker")
		Expect(doc.code).To(Equal(4), "a gone run's leftovers")
		Expect(doc.stdout).To(MatchRegexp(`run %s: LIVE: its faults' owner runs: pid %d`, liveRun, os.Getpid()))
		Expect(doc.stdout).To(MatchRegexp(`run %s: not live\n(  .*\n)*  .*container-pause`, su.Run))

		// --no-docker: the journal is what this spec proves. Removing the
		// host's abandoned stacks is the concurrent drills' spec; done here
		// too, it could take that spec's killed stack from under its own
		// cleanup when specs run in parallel.
		By("drill cleanup")
		r := runDrill(ctx, GinkgoT().TempDir(), state, nil, "cleanup", "--no-docker")
		Expect(r.code).To(Equal(4), "quarantined records are reported with exit 4")
		Expect(r.stdout).To(MatchRegexp(`reverted +container-pause +model-1 `))
		Expect(r.stdout).To(MatchRegexp(`left alone +disk-corrupt +model-0 .*run %s, its drill \(pid %d\) still runs`, liveRun, os.Getpid()))
		Expect(strings.Count(r.stdout, "QUARANTINED")).To(Equal(3), r.stdout)
		Expect(r.stdout).To(ContainSubstring("is not the record's own"), "the wipe's snapshot outside the state dir")
		Expect(r.stdout).To(ContainSubstring("is not beneath the volume"), "the corrupt's file outside the volume")

		rs, err := shared.RunState(ctx, "model-1")
		Expect(err).NotTo(HaveOccurred())
		Expect(rs.Running && !rs.Paused).To(BeTrue(), "model-1 runs again: %+v", rs)
		Expect(printOf(outside)).To(Equal(before), "the file outside changed")
		Expect(treeprint(outsideDir)).To(HaveLen(2), "the directory outside holds only its file")
		Expect(treeprint(vol.HostPath)).To(Equal(volBefore), "model-0's volume changed")

		scan, err := chaos.ScanJournal(chaos.JournalDir(state))
		Expect(err).NotTo(HaveOccurred())
		Expect(scan.Bad).To(BeEmpty())
		Expect(scan.Records).To(HaveLen(1))
		Expect(scan.Records[0].ID).To(Equal(liveID), "only the live drill's record is left")
		q, err := os.ReadDir(chaos.QuarantineDir(chaos.JournalDir(state)))
		Expect(err).NotTo(HaveOccurred())
		Expect(q).To(HaveLen(6), "three quarantined files, each with its .reason")
		AddReportEntry("journal cleanup", map[string]any{"exit": r.code, "took_s": r.took.Seconds(), "output": r.stdout})
	}, SpecTimeout(3*time.Minute))
})

var _ = Describe("state directory", Label("journal"), func() {
	It("is refused, before anything starts, when others can write it", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		state := filepath.Join(dir, "state")
		Expect(os.Mkdir(state, 0o700)).To(Succeed())
		Expect(os.Chmod(state, 0o777)).To(Succeed())
		plan := write(dir, "plan.yaml", "name: w\nsteps:\n  - {name: w, wait: 1s}\n")
		since := time.Now()
		for _, args := range [][]string{{"cleanup"}, {"run", plan, "--out", filepath.Join(dir, "out"), "--progress", "never"}} {
			p := startDrill(dir, state, nil, args...)
			pid := p.cmd.Process.Pid
			r := p.wait(ctx)
			Expect(r.code).To(Equal(2), "drill %v", args)
			Expect(r.stderr).To(ContainSubstring(state+": mode 0777 is writable by its group or others"), "drill %v", args)
			Expect(createdFor(ctx, since, time.Now(), dir, pid)).To(BeEmpty(), "drill %v created Docker resources", args)
		}
		ents, err := os.ReadDir(state)
		Expect(err).NotTo(HaveOccurred())
		Expect(ents).To(BeEmpty(), "something was written into the unsafe state directory")
		Expect(filepath.Join(dir, "out")).NotTo(BeAnExistingFile(), "the refused run created its report directory")
		// doctor changes nothing: it warns and still audits.
		r := startDrill(dir, state, nil, "doctor", "--no-docker").wait(ctx)
		Expect(r.stderr).To(ContainSubstring("WARNING: state directory " + state))
	}, SpecTimeout(time.Minute))
})
