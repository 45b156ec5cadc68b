package notice

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/calendar"
	"github.com/aiuptime/aiuptime/drill/plan"
)

// The history under testdata/history is three real runs of
// testdata/gateway-restart.yaml on the embedded stack, their report.json
// as drill run wrote them:
//
//	make fixtures images build
//	for i in 1 2 3; do
//	  bin/drill run notice/testdata/gateway-restart.yaml --out /tmp/h/run-$i
//	  cp /tmp/h/run-$i/report.json notice/testdata/history/run-$i/
//	done
const (
	realPlan    = "testdata/gateway-restart.yaml"
	realHistory = "testdata/history"
)

// measuredDowntimes reads each run's outages with plain JSON decoding,
// apart from the package, and sums them per run.
func measuredDowntimes(t *testing.T) []float64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(realHistory, "*", "report.json"))
	if err != nil || len(files) != 3 {
		t.Fatalf("want 3 real reports under %s, found %v (%v)", realHistory, files, err)
	}
	var sums []float64
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Outages []struct {
				DurationSeconds float64 `json:"duration_seconds"`
			} `json:"outages"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var s float64
		for _, o := range r.Outages {
			s += o.DurationSeconds
		}
		if s <= 0 {
			t.Fatalf("%s: no outage measured: the gateway restart should cost users one", f)
		}
		sums = append(sums, s)
	}
	return sums
}

func realNotice(t *testing.T, w *calendar.Window) *Notice {
	t.Helper()
	p, err := plan.LoadFile(realPlan)
	if err != nil {
		t.Fatal(err)
	}
	h, err := LoadHistory(p.Name, []string{realHistory})
	if err != nil {
		t.Fatal(err)
	}
	return Build(Input{Plan: p, Window: w, Now: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC), History: h})
}

func TestRealHistoryDowntime(t *testing.T) {
	sums := measuredDowntimes(t)
	slices.Sort(sums)
	wantMedian, wantWorst := sums[1], sums[2]

	n := realNotice(t, nil)
	e := n.Expected
	if e == nil || len(e.Runs) != 3 {
		t.Fatalf("expectation from 3 real runs: %+v", e)
	}
	if d := e.Downtime.Median - wantMedian; d > 1e-9 || d < -1e-9 {
		t.Errorf("median downtime %v, measured %v", e.Downtime.Median, wantMedian)
	}
	if e.Downtime.Worst != wantWorst {
		t.Errorf("worst downtime %v, measured %v", e.Downtime.Worst, wantWorst)
	}
	md := string(n.Markdown())
	down := mdSection(md, "Expected user-visible downtime")
	want := fmt.Sprintf("Downtime per run: median %.3f s, worst %.3f s.", wantMedian, wantWorst)
	if !strings.Contains(down, want) {
		t.Errorf("notice lacks %q:\n%s", want, down)
	}
	if !strings.Contains(down, "From 3 earlier runs of this plan (2026-12-03, 2026-12-03, 2026-12-03)") {
		t.Errorf("notice does not say how many runs and when:\n%s", down)
	}
	for _, s := range sums {
		if !strings.Contains(down, fmt.Sprintf("| %.3f s |", s)) {
			t.Errorf("run table lacks the run of %.3f s:\n%s", s, down)
		}
	}
	if !strings.Contains(md, "fault container-restart on gateway") {
		t.Errorf("notice does not say the gateway is restarted:\n%s", md)
	}
}

// htmlTagsXMLDoesNotKnow are HTML5 elements xmllint's HTML 4 parser
// calls invalid; everything else it reports is an error.
var htmlTagsXMLDoesNotKnow = regexp.MustCompile(`Tag (main|section|footer) invalid`)

func TestHTMLWellFormedAndSelfContained(t *testing.T) {
	w, err := calendar.Parse(calendar.Spec{Days: []string{"sat"}, Start: "22:00", End: "02:00", TZ: "America/New_York", Cadence: "monthly"})
	if err != nil {
		t.Fatal(err)
	}
	n := realNotice(t, &w)
	n.Description = `<b>bold</b> & "quoted"`
	n.Changes = append(n.Changes, Change{Step: "x</li><script>", Text: "y"})
	dir := t.TempDir()
	if err := n.Write(dir, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, FileHTML))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	dec := xml.NewDecoder(strings.NewReader(page)) // strict: every tag closed and nested
	for {
		if _, err := dec.Token(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("notice.html is not well-formed: %v", err)
		}
	}
	if _, err := exec.LookPath("xmllint"); err == nil {
		out, err := exec.Command("xmllint", "--html", "--noout", filepath.Join(dir, FileHTML)).CombinedOutput()
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "error") && !htmlTagsXMLDoesNotKnow.MatchString(line) {
				t.Errorf("xmllint --html: %s\n%s", line, out)
			}
		}
		if err != nil {
			t.Errorf("xmllint --html: %v\n%s", err, out)
		}
	} else {
		t.Log("xmllint not installed (Debian libxml2-utils): well-formedness checked with encoding/xml only")
	}
	for _, bad := range []string{"<script", "<link", " src=", " href=", "@import", "url(", "<b>"} {
		if strings.Contains(page, bad) {
			t.Errorf("notice.html contains %q: it must be self-contained and escape plan text", bad)
		}
	}
	for _, want := range []string{"&lt;b&gt;bold&lt;/b&gt;", "Next window: Sat 2027-01-02 22:00 to Sun 2027-01-03 02:00 EST (America/New_York)",
		fmt.Sprintf("median %.3f s", n.Expected.Downtime.Median), "<table>"} {
		if !strings.Contains(page, want) {
			t.Errorf("notice.html lacks %q", want)
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, FileMarkdown))
	if err != nil || !strings.Contains(string(md), "&lt;b&gt;bold&lt;/b&gt;") {
		t.Errorf("notice.md missing or does not escape HTML (%v)", err)
	}
}
