package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/redact"
	"github.com/aiuptime/aiuptime/redact/redacttest"
	"github.com/aiuptime/aiuptime/reports"
)

// canaries are secrets planted in every place a plan, a stack file or the
// environment can hold one.
type canaries struct {
	urlPassword, query, bearer, sk, env, key, param string
}

func newCanaries() canaries {
	return canaries{
		urlPassword: "cnry-url-pw-0001", query: "cnry-query-0002", bearer: "cnry-bearer-0003",
		sk: "sk-cnry0004abcdefghijklmnopq", env: "cnry-env-value-0005", key: "cnry-gateway-key-0006",
		param: "cnry-param-0007",
	}
}

func (c canaries) all() []string {
	return []string{c.urlPassword, c.query, c.bearer, c.sk, c.env, c.key, c.param}
}

// captureLogger points the CLI's logger at a buffer for the test, through
// the same constructor main uses.
func captureLogger(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	old := logger
	logger = newLogger(&buf, slog.LevelDebug)
	t.Cleanup(func() { logger = old })
	return &buf
}

// TestRunLeaksNoCanary runs a real drill (a plain-URL stack in front of a
// real HTTP server on 127.0.0.1) from a plan and a stack file that hold
// canaries in a URL's userinfo and ?key=, a Bearer header, an sk- key, a
// secret-named environment variable and the gateway key's variable, and
// greps every file written, the log, stdout and stderr for each.
func TestRunLeaksNoCanary(t *testing.T) {
	c := newCanaries()
	t.Setenv("MY_SERVICE_TOKEN", c.env)
	t.Setenv("GW_CREDENTIAL_VAR", c.key) // api_key_env; the gateway gets it as a Bearer key
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	dir := t.TempDir()
	base := strings.Replace(srv.URL, "http://", "http://admin:"+c.urlPassword+"@", 1) + "/?key=" + c.query
	writeFile(t, filepath.Join(dir, "stack.yaml"), "kind: endpoints\napi_key_env: GW_CREDENTIAL_VAR\nendpoints:\n"+
		"  - {name: gateway, role: gateway, url: \""+base+"\", health_path: /health}\n")
	writeFile(t, filepath.Join(dir, "plan.yaml"), "name: canary\n"+
		"description: \"calls with Authorization: Bearer "+c.bearer+" and "+c.sk+"; token "+c.env+"\"\n"+
		"stack: stack.yaml\nprobe: {mode: health, interval: 50ms}\nslo: {availability: 50}\n"+
		"steps:\n  - name: steady "+c.env+"\n    wait: 1s\n")
	logs := captureLogger(t)
	out := filepath.Join(dir, "out")
	stdout, code, err := runCLI(t, "run", filepath.Join(dir, "plan.yaml"), "--out", out, "--progress", "never")
	var stderr bytes.Buffer
	reportTo(&stderr, err)
	if code != exitcode.Pass && code != exitcode.Fail {
		t.Fatalf("drill run: exit %d: %v\n%s\n%s", code, err, stdout, logs)
	}
	leaks, ferr := redacttest.ScanFiles([]string{dir}, c.all()...)
	if ferr != nil {
		t.Fatal(ferr)
	}
	for name, text := range map[string]string{"log": logs.String(), "stdout": stdout, "stderr": stderr.String()} {
		leaks = append(leaks, redacttest.ScanText(name, text, c.all()...)...)
	}
	// The plan and stack file hold them by design: only outputs count.
	leaks = outputsOnly(leaks, filepath.Join(dir, "plan.yaml"), filepath.Join(dir, "stack.yaml"))
	if len(leaks) > 0 {
		t.Errorf("canaries leaked:\n%s", redacttest.Report(leaks))
	}
	rep, rerr := os.ReadFile(filepath.Join(out, reports.FileJSON))
	if rerr != nil || !bytes.Contains(rep, []byte(`"url": "http://admin:[REDACTED]@127.0.0.1`)) ||
		!bytes.Contains(rep, []byte("Bearer [REDACTED]")) || !strings.Contains(logs.String(), "steady [REDACTED]") {
		t.Errorf("the canaries' places are not in the outputs (%v): the test would prove nothing\n%s\n%s", rerr, rep, logs)
	}
}

func outputsOnly(leaks []redacttest.Leak, inputs ...string) []redacttest.Leak {
	var out []redacttest.Leak
	for _, l := range leaks {
		if !strings.Contains(strings.Join(inputs, "\n"), l.Path) {
			out = append(out, l)
		}
	}
	return out
}

// TestErrorsAreMasked prints an error holding a stack file's secrets (a
// URL that is not http(s)) through the CLI's exit path.
func TestErrorsAreMasked(t *testing.T) {
	c := newCanaries()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "stack.yaml"), "kind: endpoints\nendpoints:\n"+
		"  - {name: gateway, role: gateway, url: \"ftp://u:"+c.urlPassword+"@127.0.0.1:1/?token="+c.query+"\"}\n")
	writeFile(t, filepath.Join(dir, "plan.yaml"), "name: bad-url\nstack: stack.yaml\nsteps:\n  - {name: w, wait: 1s}\n")
	logs := captureLogger(t)
	out, code, err := runCLI(t, "run", filepath.Join(dir, "plan.yaml"), "--out", filepath.Join(dir, "out"), "--progress", "never")
	if code == exitcode.Pass || err == nil {
		t.Fatalf("a stack of ftp URLs ran: %s", out)
	}
	var stderr bytes.Buffer
	reportTo(&stderr, err)
	if !strings.Contains(err.Error(), c.urlPassword) {
		t.Fatalf("the error does not carry the URL (%v): the test would prove nothing", err)
	}
	text := stderr.String() + out + logs.String()
	if leaks := redacttest.ScanText("stderr+stdout+log", text, c.all()...); len(leaks) > 0 {
		t.Errorf("canaries leaked:\n%s\n%s", redacttest.Report(leaks), text)
	}
}

// TestStdoutMaskedButStackUpJSON checks that stdout is masked for every
// command (here a plan name equal to a secret environment value) except
// the contract's `drill stack up --json`.
func TestStdoutMaskedButStackUpJSON(t *testing.T) {
	c := newCanaries()
	t.Setenv("MY_SERVICE_TOKEN", c.env)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "plan.yaml"), "name: "+c.env+"\nsteps:\n  - {name: w, wait: 1s}\n")
	out, code, err := runCLI(t, "validate", filepath.Join(dir, "plan.yaml"))
	if code != exitcode.Pass {
		t.Fatalf("validate: exit %d %v\n%s", code, err, out)
	}
	if strings.Contains(out, c.env) || !strings.Contains(out, redact.Mask) {
		t.Errorf("stdout not masked: %s", out)
	}
	root := newRoot()
	cmd, _, err := root.Find([]string{"stack", "up"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Flags().Set("json", "true"); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	root.SetOut(&buf)
	maskOutputs(cmd)
	if err := printJSON(cmd, map[string]string{"api_key": c.sk}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), c.sk) {
		t.Errorf("drill stack up --json must hand over the key: %s", buf.String())
	}
}

func TestReportRefusesWhatIsNotAReport(t *testing.T) {
	for _, body := range []string{"null", "[]", `{"schema_version": 99, "plan": "x"}`, "{", `{"plan": "no version"}`} {
		dir := t.TempDir()
		p := filepath.Join(dir, reports.FileJSON)
		writeFile(t, p, body)
		out, code, err := runCLI(t, "report", dir)
		if code != exitcode.Usage || err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("report of %s: exit %d, %v (want 2 naming %s)\n%s", body, code, err, p, out)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Errorf("report of %s wrote files: %v", body, ents)
		}
	}
}

// TestReportRerenderKeepsUnknownAndMasks re-renders a report.json of a
// newer minor version (unknown fields) that holds secrets into another
// directory, where one target is a symlink to a file outside.
func TestReportRerenderKeepsUnknownAndMasks(t *testing.T) {
	c := newCanaries()
	src := t.TempDir()
	golden, err := os.ReadFile("../../reports/testdata/golden/report.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(golden, &m); err != nil {
		t.Fatal(err)
	}
	m["future"] = map[string]any{"api_key": c.key, "endpoint": "https://u:" + c.urlPassword + "@h/?sig=" + c.query, "n": 3}
	m["verdict_reason"] = "probe saw Authorization: Bearer " + c.bearer + " rejected, key " + c.sk
	b, _ := json.MarshalIndent(m, "", "  ")
	writeFile(t, filepath.Join(src, reports.FileJSON), string(b))

	out := t.TempDir()
	outside := filepath.Join(t.TempDir(), "precious")
	writeFile(t, outside, "keep")
	if err := os.Symlink(outside, filepath.Join(out, reports.FileMarkdown)); err != nil {
		t.Fatal(err)
	}
	_, code, err := runCLI(t, "report", src, "--out", out)
	if code != exitcode.Usage || !errors.Is(err, reports.ErrUnsafeTarget) {
		t.Fatalf("report into a dir with a symlinked target: exit %d, %v", code, err)
	}
	if got, _ := os.ReadFile(outside); string(got) != "keep" {
		t.Fatal("the file outside was changed")
	}
	if err := os.Remove(filepath.Join(out, reports.FileMarkdown)); err != nil {
		t.Fatal(err)
	}
	stdout, code, err := runCLI(t, "report", src, "--out", out)
	if code != exitcode.Pass {
		t.Fatalf("exit %d: %v\n%s", code, err, stdout)
	}
	leaks, _ := redacttest.ScanFiles([]string{out}, c.all()...)
	leaks = append(leaks, redacttest.ScanText("stdout", stdout, c.all()...)...)
	if len(leaks) > 0 {
		t.Errorf("canaries leaked:\n%s", redacttest.Report(leaks))
	}
	var got map[string]any
	rb, _ := os.ReadFile(filepath.Join(out, reports.FileJSON))
	if err := json.Unmarshal(rb, &got); err != nil {
		t.Fatal(err)
	}
	f, _ := got["future"].(map[string]any)
	if f["n"] != 3.0 || f["api_key"] != redact.Mask {
		t.Errorf("unknown field not kept masked: %v", got["future"])
	}
}

// TestRunRefusesUnsafeReportTarget checks that drill run refuses, before
// anything starts, a report directory where a report file is a symlink.
func TestRunRefusesUnsafeReportTarget(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "plan.yaml"), "name: w\nsteps:\n  - {name: w, wait: 1s}\n")
	out := filepath.Join(dir, "out")
	outside := filepath.Join(t.TempDir(), "precious")
	writeFile(t, outside, "keep")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(out, reports.FileJUnit)); err != nil {
		t.Fatal(err)
	}
	_, code, err := runCLI(t, "run", filepath.Join(dir, "plan.yaml"), "--out", out, "--progress", "never")
	if code != exitcode.Usage || !errors.Is(err, reports.ErrUnsafeTarget) {
		t.Fatalf("exit %d, %v; want 2 and ErrUnsafeTarget", code, err)
	}
	if b, _ := os.ReadFile(outside); string(b) != "keep" {
		t.Error("the file outside was changed")
	}
}
