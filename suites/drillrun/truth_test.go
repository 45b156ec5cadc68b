package drillrun_test

import (
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aiuptime/aiuptime/reports"
)

// junitCase is the part of a JUnit testcase these checks read.
type junitCase struct {
	Name    string `xml:"name,attr"`
	Failure *struct {
		Message string `xml:"message,attr"`
	} `xml:"failure"`
}

// junitDoc is the part of junit.xml these checks read.
type junitDoc struct {
	Suites []struct {
		Properties []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"properties>property"`
		Cases []junitCase `xml:"testcase"`
	} `xml:"testsuite"`
}

// breach is an SLO failure message as written: "latency_p95 108.3 ms >
// target 1.0 ms".
var breach = regexp.MustCompile(`^(\S+) ([0-9.]+) ?(ms|s|%) ([<>]) target ([0-9.]+) ?(ms|s|%)$`)

// inUnits converts a rendered value to seconds or a fraction.
func inUnits(v, unit string) float64 {
	GinkgoHelper()
	f, err := strconv.ParseFloat(v, 64)
	Expect(err).NotTo(HaveOccurred())
	switch unit {
	case "ms", "%":
		return f / map[string]float64{"ms": 1000, "%": 100}[unit]
	}
	return f
}

// checkRecoveryTruth checks what issue 14 asks of a real drill's reports
// (the short failover, which kills model-0's engine and breaches
// latency_p95 and ttft_p95 on purpose): the killed server's own downtime
// with its phases, measured TTFT, each service's availability, failure
// messages that are true as written, a verdict reason naming both
// breaches, and a report.pdf holding the verdict and the SLO table.
func checkRecoveryTruth(out string, rep *reports.Report) {
	GinkgoHelper()
	By("the killed server's downtime, watched directly, with its phases")
	Expect(rep.ComponentRecovery).NotTo(BeNil(), "no component recovery in the report")
	var kill *reports.StepRecovery
	for i, s := range rep.ComponentRecovery.Steps {
		if s.Step == "kill GPU process of model-0" && s.Service == "model-0" {
			kill = &rep.ComponentRecovery.Steps[i]
		}
	}
	Expect(kill).NotTo(BeNil(), "the GPU kill's component recovery is missing: %+v", rep.ComponentRecovery.Steps)
	Expect(kill.Outage).To(BeTrue(), "a killed engine was never seen down: %s", kill.Note)
	Expect(kill.DowntimeSeconds).NotTo(BeNil())
	Expect(*kill.DowntimeSeconds).To(BeNumerically(">", 0))
	at := map[string]float64{}
	for _, name := range []string{reports.PhaseDetected, reports.PhaseProcessBack, reports.PhaseReady, reports.PhaseFirstToken} {
		p, ok := kill.Phase(name)
		Expect(ok).To(BeTrue(), "phase %s missing", name)
		Expect(p.Status).To(Equal(reports.PhaseMeasured), "phase %s: %s", name, p.Note)
		at[name] = *p.Seconds
	}
	// The engine is detected down, then back, before it serves: ready
	// (/health) and the first token both come after it is back. (They are
	// checked independently, so either may come first.)
	Expect(at[reports.PhaseDetected]).To(BeNumerically("<=", at[reports.PhaseProcessBack]))
	Expect(at[reports.PhaseProcessBack]).To(BeNumerically("<=", at[reports.PhaseReady]))
	Expect(at[reports.PhaseProcessBack]).To(BeNumerically("<=", at[reports.PhaseFirstToken]))
	Expect(*kill.DowntimeSeconds).To(BeNumerically("<=", *kill.RecoverySeconds+0.001), "downtime longer than the time from the step to recovery")

	By("time to first token measured, not 0")
	Expect(rep.TTFT.P95).To(BeNumerically(">", 0), "TTFT was never measured")

	By("each service's own availability")
	avail := map[string]reports.ServiceAvailability{}
	for _, s := range rep.ServiceAvailability {
		avail[s.Name] = s
	}
	Expect(avail).To(HaveKey("model-0"))
	Expect(avail).To(HaveKey("gateway"))
	Expect(avail["model-0"].Availability).NotTo(BeNil())
	Expect(*avail["model-0"].Availability).To(BeNumerically("<", 1), "model-0 was killed, yet its own probe never failed")

	By("JUnit failure messages that are true as written, and the verdict reason naming both breaches")
	b, err := os.ReadFile(filepath.Join(out, reports.FileJUnit))
	Expect(err).NotTo(HaveOccurred())
	var doc junitDoc
	Expect(xml.Unmarshal(b, &doc)).To(Succeed())
	Expect(doc.Suites).NotTo(BeEmpty())
	props := map[string]string{}
	for _, p := range doc.Suites[0].Properties {
		props[p.Name] = p.Value
	}
	Expect(props).To(HaveKey("service.model-0.availability"))
	breached := map[string]bool{}
	for _, c := range doc.Suites[0].Cases {
		if c.Failure == nil || len(c.Name) < 5 || c.Name[:5] != "slo: " {
			continue
		}
		m := breach.FindStringSubmatch(c.Failure.Message)
		Expect(m).NotTo(BeNil(), "failure message %q is no comparison", c.Failure.Message)
		actual, target := inUnits(m[2], m[3]), inUnits(m[5], m[6])
		if m[4] == ">" {
			Expect(actual).To(BeNumerically(">", target), "false as written: %q", c.Failure.Message)
		} else {
			Expect(actual).To(BeNumerically("<", target), "false as written: %q", c.Failure.Message)
		}
		breached[m[1]] = true
	}
	Expect(breached).To(HaveKey("latency_p95"))
	Expect(breached).To(HaveKey("ttft_p95"))
	Expect(rep.VerdictReason).To(And(ContainSubstring("latency_p95"), ContainSubstring("ttft_p95")))

	By("report.pdf holding the verdict and the SLO table")
	txt, err := exec.Command("pdftotext", "-layout", filepath.Join(out, reports.FilePDF), "-").Output()
	Expect(err).NotTo(HaveOccurred(), "report.pdf unreadable (poppler-utils comes with make deps)")
	Expect(string(txt)).To(MatchRegexp(`VERDICT[^\n]*\n\s*FAIL\b`))
	Expect(string(txt)).To(MatchRegexp(`latency_p95\s+<= 1\.0 ms\s+\S+ m?s\s+NO`))
}
