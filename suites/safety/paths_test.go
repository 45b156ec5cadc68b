package safety_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/stack"
)

// injectArgs are the arguments of `drill fault inject` on a service of
// the shared stack, holding the fault for hold.
func injectArgs(kind, target string, params map[string]any, hold time.Duration) []string {
	GinkgoHelper()
	args := []string{"fault", "inject", "--run", su.Run, "--kind", kind, "--target", target, "--hold", hold.String()}
	if len(params) == 0 {
		return args
	}
	b, err := json.Marshal(params)
	Expect(err).NotTo(HaveOccurred())
	return append(args, "--params", string(b))
}

var _ = Describe("paths", Label("paths"), func() {
	It("refuses disk faults through a symlink planted in a model volume, leaves the file outside untouched and journals nothing", func(ctx SpecContext) {
		vol, err := shared.Volume(ctx, "model-0", stack.VolumeModels)
		Expect(err).NotTo(HaveOccurred())
		Expect(vol.HostPath).To(BeADirectory(), "the stack says where model-0's volume is on this host")
		outsideDir, outside := preciousFile()
		links := map[string]string{"escape": outsideDir, "model-link.safetensors": outside}
		for name, target := range links {
			Expect(os.Symlink(target, filepath.Join(vol.HostPath, name))).To(Succeed())
			DeferCleanup(os.Remove, filepath.Join(vol.HostPath, name))
		}
		before, volBefore := printOf(outside), treeprint(vol.HostPath)

		state := newStateDir()
		cases := []struct {
			kind   string
			params map[string]any
		}{
			{"disk-corrupt", map[string]any{"volume": "models", "path": "escape/precious.bin"}},
			{"disk-corrupt", map[string]any{"volume": "models", "path": "model-link.safetensors"}},
			{"disk-wipe", map[string]any{"volume": "models", "path": "escape"}},
			{"disk-wipe", map[string]any{"volume": "models"}},
		}
		for _, tc := range cases {
			r := runDrill(ctx, GinkgoT().TempDir(), state, nil, injectArgs(tc.kind, "model-0", tc.params, time.Second)...)
			Expect(r.code).NotTo(BeZero(), "%s %v was not refused", tc.kind, tc.params)
			Expect(r.stdout).NotTo(ContainSubstring("INJECTED"), "%s %v was injected", tc.kind, tc.params)
			Expect(r.stderr).To(ContainSubstring("symbolic link"), "%s %v: the refusal names the link", tc.kind, tc.params)
			AddReportEntry("refused "+tc.kind, map[string]any{"params": tc.params, "exit": r.code, "took_s": r.took.Seconds()})
		}

		Expect(printOf(outside)).To(Equal(before), "the file outside the volume changed (bytes, size, mtime or inode)")
		Expect(treeprint(outsideDir)).To(HaveLen(2), "the directory outside the volume holds only the file")
		Expect(treeprint(vol.HostPath)).To(Equal(volBefore), "a refused fault changed the volume")
		scan, err := chaos.ScanJournal(chaos.JournalDir(state))
		Expect(err).NotTo(HaveOccurred())
		Expect(scan.Records).To(BeEmpty(), "a refused fault was journaled")
		Expect(scan.Bad).To(BeEmpty())
		snaps, _ := os.ReadDir(filepath.Join(state, "snapshots"))
		Expect(snaps).To(BeEmpty(), "a refused wipe left a snapshot")
	}, SpecTimeout(3*time.Minute))
})
