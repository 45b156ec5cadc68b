package reports

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func writeSample(t *testing.T) (string, *Report) {
	t.Helper()
	dir := t.TempDir()
	r := sampleReport(sampleSecret)
	if err := Write(dir, r, WithSecrets(sampleSecret)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return dir, r
}

func TestGolden(t *testing.T) {
	dir, _ := writeSample(t)
	for _, name := range Files {
		t.Run(name, func(t *testing.T) {
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "golden", name)
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./reports -update)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s differs from golden (-want +got; go test ./reports -update to accept):\n%s", name, diff)
			}
		})
	}
}

func TestRedaction(t *testing.T) {
	dir, r := writeSample(t)
	if !strings.Contains(r.Steps[4].Error, sampleSecret) {
		t.Fatal("Write modified the caller's report")
	}
	for _, name := range Files {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(sampleSecret)) {
			t.Errorf("%s contains the secret", name)
		}
		if name != FileProm && !bytes.Contains(b, []byte(Redacted)) {
			t.Errorf("%s has no %s marker: the planted secret went missing instead of being redacted", name, Redacted)
		}
	}
	// Without the option a secret no pattern recognises is (by
	// construction) present: the test can fail.
	const plain = "plain-canary-value"
	dir2 := t.TempDir()
	if err := Write(dir2, sampleReport(plain)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir2, FileJSON))
	if !bytes.Contains(b, []byte(plain)) {
		t.Fatal("sample does not plant the secret")
	}
}

func TestRedactionEscapedForms(t *testing.T) {
	secret := `k<&>"ey-0123`
	r := sampleReport(secret)
	dir := t.TempDir()
	if err := Write(dir, r, WithSecrets(secret)); err != nil {
		t.Fatal(err)
	}
	for _, name := range Files {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		for _, form := range []string{secret, "k&lt;&amp;&gt;&#34;ey", `k\u003c\u0026\u003e\"ey`, "k&lt;&amp;&gt;&quot;ey"} {
			if bytes.Contains(b, []byte(form)) {
				t.Errorf("%s contains the secret as %q", name, form)
			}
		}
	}
}

func TestLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	r := sampleReport("") // nothing to mask: the round trip is exact
	if err := Write(dir, r); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("Load(Write(r)) != r (-want +got):\n%s", diff)
	}
	// Re-rendering from the loaded report gives the same files.
	dir2 := t.TempDir()
	if err := Write(dir2, got); err != nil {
		t.Fatal(err)
	}
	for _, name := range Files {
		a, _ := os.ReadFile(filepath.Join(dir, name))
		b, _ := os.ReadFile(filepath.Join(dir2, name))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs after re-rendering from report.json", name)
		}
	}
}

func TestJSONContract(t *testing.T) {
	dir, _ := writeSample(t)
	b, err := os.ReadFile(filepath.Join(dir, FileJSON))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	get := func(path string) any {
		var cur any = m
		for _, k := range strings.Split(path, ".") {
			obj, ok := cur.(map[string]any)
			if !ok {
				t.Errorf("%s: not an object at %s", path, k)
				return nil
			}
			cur, ok = obj[k]
			if !ok {
				t.Errorf("report.json lacks %s", path)
				return nil
			}
		}
		return cur
	}
	for _, p := range []string{"plan", "verdict", "grade", "availability.request_based", "availability.time_based",
		"requests.total", "requests.failed", "mttr_seconds", "mtbf_seconds", "latency_seconds.p50", "latency_seconds.p95",
		"latency_seconds.p99", "ttft_seconds.p95", "outages", "steps", "slo", "services", "capabilities.netem",
		"dr.rto_seconds", "dr.rpo_seconds", "dr.rpo_rows", "dr.golden_prompt_match", "rollouts", "alerts", "environment", "timeline"} {
		get(p)
	}
	start, _ := get("started_at").(string)
	if ts, err := time.Parse(time.RFC3339Nano, start); err != nil || ts.Nanosecond() != 123456789 {
		t.Errorf("started_at %q is not RFC 3339 with nanoseconds (%v)", start, err)
	}
	if v, ok := get("verdict").(string); !ok || v != "fail" {
		t.Errorf("verdict = %v", get("verdict"))
	}
	for _, el := range []struct {
		path string
		i    int
		keys []string
	}{
		{"steps", 1, []string{"name", "kind", "started_at", "finished_at", "status", "recovery_seconds"}},
		{"outages", 0, []string{"start", "end", "duration_seconds", "cause"}},
		{"services", 1, []string{"name", "role", "url", "version_before", "version_after"}},
		{"rollouts", 0, []string{"kind", "target", "failed_requests", "decision"}},
		{"alerts", 0, []string{"name", "fired_at", "resolved_at", "delay_seconds"}},
	} {
		m := get(el.path).([]any)[el.i].(map[string]any)
		for _, k := range el.keys {
			if _, ok := m[k]; !ok {
				t.Errorf("%s[%d] lacks %s", el.path, el.i, k)
			}
		}
	}
}

func TestJUnit(t *testing.T) {
	dir, r := writeSample(t)
	b, err := os.ReadFile(filepath.Join(dir, FileJUnit))
	if err != nil {
		t.Fatal(err)
	}
	var doc JUnitSuites
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("junit.xml does not parse: %v", err)
	}
	if len(doc.Suites) != 1 {
		t.Fatalf("%d suites", len(doc.Suites))
	}
	s := doc.Suites[0]
	wantTests := len(r.Steps) + len(r.SLO)
	if s.Tests != wantTests || doc.Tests != wantTests {
		t.Errorf("tests = %d/%d, want %d", s.Tests, doc.Tests, wantTests)
	}
	// failures: the deviated step and two breached SLOs; errors: the broken revert; skipped: 1.
	if s.Failures != 3 || s.Errors != 1 || s.Skipped != 1 {
		t.Errorf("failures/errors/skipped = %d/%d/%d, want 3/1/1", s.Failures, s.Errors, s.Skipped)
	}
	if s.Timestamp != "2026-11-21T10:00:00" || s.Hostname != "ci-runner-1" || s.Time != "60.000" {
		t.Errorf("suite attrs: %+v", s)
	}
	props := map[string]string{}
	for _, p := range s.Properties {
		props[p.Name] = p.Value
	}
	if props["availability.request_based"] != "0.9712" || props["requests.total"] != "3000" || props["capabilities.netem"] != "false" {
		t.Errorf("properties: %v", props)
	}
	for _, c := range s.Cases {
		n := 0
		for _, m := range []*JUnitMessage{c.Failure, c.Error, c.Skipped} {
			if m != nil {
				n++
			}
		}
		if n > 1 {
			t.Errorf("case %q has %d of failure/error/skipped", c.Name, n)
		}
		if c.Classname != r.Plan || c.Time == "" {
			t.Errorf("case %q: classname %q time %q", c.Name, c.Classname, c.Time)
		}
		if c.Name == "slo: latency_p95" && (c.Failure == nil || c.Failure.Text == "") {
			t.Errorf("breached SLO is not a failure with text: %+v", c)
		}
		if c.Name == "step: partition model-1" && c.Error == nil {
			t.Errorf("broken revert is not an error: %+v", c)
		}
	}
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Log("xmllint not installed (Debian libxml2-utils): well-formedness checked with encoding/xml only")
		return
	}
	out, err := exec.Command("xmllint", "--noout", filepath.Join(dir, FileJUnit)).CombinedOutput()
	if err != nil {
		t.Errorf("xmllint: %v\n%s", err, out)
	}
}

func TestProm(t *testing.T) {
	dir, _ := writeSample(t)
	b, err := os.ReadFile(filepath.Join(dir, FileProm))
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("drill.prom does not parse: %v\n%s", err, b)
	}
	val := func(name string, labels map[string]string) float64 {
		t.Helper()
		f, ok := fams[name]
		if !ok {
			t.Fatalf("missing %s", name)
		}
	next:
		for _, m := range f.Metric {
			if m.TimestampMs != nil {
				t.Errorf("%s has a timestamp: textfile collector rejects them", name)
			}
			got := map[string]string{}
			for _, l := range m.Label {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			return m.GetGauge().GetValue()
		}
		t.Fatalf("%s%v not found", name, labels)
		return 0
	}
	plan := "gpu-failover"
	if got := val(MetricVerdict, map[string]string{"plan": plan, "verdict": "fail"}); got != 1 {
		t.Errorf("verdict fail = %v", got)
	}
	if got := val(MetricVerdict, map[string]string{"plan": plan, "verdict": "pass"}); got != 0 {
		t.Errorf("verdict pass = %v", got)
	}
	if got := val(MetricAvailability, map[string]string{"basis": "request"}); got != 0.9712 {
		t.Errorf("availability = %v", got)
	}
	if got := val(MetricMTTR, nil); got != 3.5 {
		t.Errorf("mttr = %v", got)
	}
	if got := val(MetricLastRun, nil); got != float64(time.Date(2026, 11, 21, 10, 1, 0, 123456789, time.UTC).UnixNano())/1e9 {
		t.Errorf("last run = %v", got)
	}
	if got := val(MetricSLOCompliant, map[string]string{"slo": "recovery_time"}); got != 1 {
		t.Errorf("recovery_time compliant = %v", got)
	}
	if got := val(MetricSLOCompliant, map[string]string{"slo": "latency_p95"}); got != 0 {
		t.Errorf("latency compliant = %v", got)
	}
	for name, f := range fams {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if strings.Contains(l.GetValue(), "://") || len(l.GetValue()) > 64 {
					t.Errorf("%s has an unbounded label %s=%q", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
}

func TestHTMLSelfContained(t *testing.T) {
	dir, _ := writeSample(t)
	b, err := os.ReadFile(filepath.Join(dir, FileHTML))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, bad := range []string{"<script", "<link", " src=", " href=", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("report.html contains %q: it must be self-contained", bad)
		}
	}
	for _, want := range []string{`<svg id="timeline"`, `class="fault"`, `class="outage"`, `class="latency"`, `class="success"`,
		"0.10.1", "0.10.2 (changed)", "EngineDown", "rolled-back", "RTO", "toxiproxy", "&lt;b&gt;", "sch_netem is missing"} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if strings.Contains(page, "model-1 <b>") {
		t.Error("report.html does not escape step names")
	}
}

func TestCompare(t *testing.T) {
	before := sampleReport("x")
	after := sampleReport("x")
	after.Availability.RequestBased = 0.999
	after.Latency.P95 = 3.2
	after.Requests.Failed = 3
	c, err := Compare(before, after, CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Delta{}
	for _, d := range c.Deltas {
		got[d.Metric] = d
	}
	if d := got[MetricNameAvailability]; d.Verdict != "better" || d.Change <= 0 {
		t.Errorf("availability: %+v", d)
	}
	if d := got[MetricNameLatencyP95]; d.Verdict != "worse" || d.Change < 0.79 || d.Change > 0.81 {
		t.Errorf("p95: %+v", d)
	}
	if d := got[MetricNameErrorRate]; d.Verdict != "better" {
		t.Errorf("error rate: %+v", d)
	}
	if d := got[MetricNameTTFTP95]; d.Verdict != "same" {
		t.Errorf("ttft: %+v", d)
	}
	md := c.Markdown()
	for _, want := range []string{"| availability |", "| latency_p95 |", "| ttft_p95 |", "| error_rate |", "worse"} {
		if !strings.Contains(md, want) {
			t.Errorf("comparison table lacks %q:\n%s", want, md)
		}
	}
}

func TestCurrentEnvironmentAndExitCodes(t *testing.T) {
	e := CurrentEnvironment("v9")
	if e.Host == "" || e.GoVersion == "" || e.CPUs < 1 || e.ToolVersion != "v9" {
		t.Errorf("environment: %+v", e)
	}
	for v, want := range map[Verdict]int{VerdictPass: 0, VerdictFail: 1, VerdictError: 3, VerdictAborted: 5, "": 3} {
		if got := v.ExitCode(); got != want {
			t.Errorf("%q.ExitCode() = %d, want %d", v, got, want)
		}
	}
}

// TestMinimalReport: an aborted run with nothing measured still renders
// every file validly.
func TestMinimalReport(t *testing.T) {
	dir := t.TempDir()
	r := &Report{Plan: "empty", Verdict: VerdictAborted, VerdictReason: "stop condition: availability below 50%", Grade: Grade(0)}
	if err := Write(dir, r); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, FileJUnit))
	var doc JUnitSuites
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Errors != 1 || doc.Tests != 1 {
		t.Errorf("an aborted run without steps must show one error case: %+v", doc)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	pb, _ := os.ReadFile(filepath.Join(dir, FileProm))
	if _, err := p.TextToMetricFamilies(bytes.NewReader(pb)); err != nil {
		t.Errorf("drill.prom: %v", err)
	}
	hb, _ := os.ReadFile(filepath.Join(dir, FileHTML))
	if !bytes.Contains(hb, []byte(`<svg id="timeline"`)) || !bytes.Contains(hb, []byte("no probe results recorded")) {
		t.Error("empty timeline not rendered")
	}
}

// BenchmarkWrite renders every file of a one-hour drill (3600 buckets,
// 100 steps).
func BenchmarkWrite(b *testing.B) {
	r := sampleReport("x")
	t0 := r.StartedAt
	r.Timeline.Buckets = nil
	for i := range 3600 {
		r.Timeline.Buckets = append(r.Timeline.Buckets, Bucket{T: t0.Add(time.Duration(i) * time.Second), Requests: 20, Success: 1, P95: 0.2})
	}
	for i := range 100 {
		r.Steps = append(r.Steps, Step{Name: fmt.Sprintf("wait %d", i), Kind: "wait", Status: StatusPassed})
	}
	r.FinishedAt = t0.Add(time.Hour)
	dir := b.TempDir()
	b.ReportAllocs()
	for b.Loop() {
		if err := Write(dir, r, WithSecrets("x-secret")); err != nil {
			b.Fatal(err)
		}
	}
}
