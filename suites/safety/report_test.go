package safety_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aiuptime/aiuptime/reports"
)

// goldenReport returns the checkout's golden report.json, decoded
// generically (every field, known or not).
func goldenReport() map[string]any {
	GinkgoHelper()
	b, err := os.ReadFile(filepath.Join(su.Src, "reports", "testdata", "golden", reports.FileJSON))
	Expect(err).NotTo(HaveOccurred())
	var m map[string]any
	Expect(json.Unmarshal(b, &m)).To(Succeed())
	return m
}

// reportDir writes a report.json of content into a new directory.
func reportDir(content []byte) string {
	GinkgoHelper()
	dir := GinkgoT().TempDir()
	Expect(os.WriteFile(filepath.Join(dir, reports.FileJSON), content, 0o644)).To(Succeed())
	return dir
}

var _ = Describe("drill report", Label("reports"), func() {
	It("refuses what is not a report, keeps unknown fields, and writes only its own files in its directory", func(ctx SpecContext) {
		state := newStateDir()
		By("refusing null and a newer schema major version with exit 2, writing nothing")
		newer := goldenReport()
		newer["schema_version"] = reports.SchemaVersion + 1
		b, err := json.Marshal(newer)
		Expect(err).NotTo(HaveOccurred())
		for name, content := range map[string][]byte{"null": []byte("null"), "a newer schema major": b} {
			dir := reportDir(content)
			r := runDrill(ctx, dir, state, nil, "report", dir)
			Expect(r.code).To(Equal(2), name)
			Expect(r.stderr).To(ContainSubstring(filepath.Join(dir, reports.FileJSON)), "%s: the refusal names the file", name)
			ents, err := os.ReadDir(dir)
			Expect(err).NotTo(HaveOccurred())
			Expect(ents).To(HaveLen(1), "%s: drill report wrote files", name)
		}

		By("re-rendering a report with fields this build does not know")
		m := goldenReport()
		m["from_the_future"] = map[string]any{"n": 3.0, "list": []any{"a", "b"}}
		steps := m["steps"].([]any)
		steps[0].(map[string]any)["future_step_field"] = "kept"
		b, err = json.Marshal(m)
		Expect(err).NotTo(HaveOccurred())
		src := reportDir(b)
		out := GinkgoT().TempDir()
		notes := write(out, "notes.txt", "the operator's own file")
		notesBefore := printOf(notes)
		r := runDrill(ctx, src, state, nil, "report", src, "--out", out)
		Expect(r.code).To(Equal(0))
		Expect(printOf(notes)).To(Equal(notesBefore), "drill report changed a file it does not render")
		var got map[string]any
		rb, err := os.ReadFile(filepath.Join(out, reports.FileJSON))
		Expect(err).NotTo(HaveOccurred())
		Expect(json.Unmarshal(rb, &got)).To(Succeed())
		Expect(got).To(HaveKeyWithValue("from_the_future", m["from_the_future"]))
		Expect(got["steps"].([]any)[0]).To(HaveKeyWithValue("future_step_field", "kept"))
		for _, f := range reports.Files {
			Expect(filepath.Join(out, f)).To(BeARegularFile())
		}

		By("refusing an output directory where a file it renders is a symlink to a file outside")
		outsideDir, outside := preciousFile()
		before := printOf(outside)
		linked := GinkgoT().TempDir()
		Expect(os.Symlink(outside, filepath.Join(linked, reports.FileMarkdown))).To(Succeed())
		r = runDrill(ctx, src, state, nil, "report", src, "--out", linked)
		Expect(r.code).To(Equal(2))
		Expect(printOf(outside)).To(Equal(before), "the file outside changed")
		Expect(treeprint(outsideDir)).To(HaveLen(2))
		Expect(treeprint(linked)).To(Equal(map[string]string{".": "d---------", reports.FileMarkdown: "link -> " + outside}),
			"drill report wrote into a directory it refused")
	}, SpecTimeout(2*time.Minute))
})
