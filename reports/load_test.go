package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/aiuptime/aiuptime/redact"
	"github.com/aiuptime/aiuptime/redact/redacttest"
)

func TestReadRefusesWhatIsNotAReport(t *testing.T) {
	for _, c := range []struct {
		name, body string
		want       error
		msg        string
	}{
		{"null", "null", ErrNotReport, "JSON null"},
		{"array", "[1, 2]", ErrNotReport, "JSON array, not an object"},
		{"string", `"report"`, ErrNotReport, "JSON string"},
		{"number", "42\n", ErrNotReport, "JSON number"},
		{"empty object", "{}", ErrNotReport, "no schema_version"},
		{"schema 0", `{"schema_version": 0}`, ErrNotReport, "schema_version 0"},
		{"schema text", `{"schema_version": "1"}`, ErrNotReport, `schema_version "1"`},
		{"newer schema", fmt.Sprintf(`{"schema_version": %d, "plan": "x"}`, SchemaVersion+1), ErrNewerSchema,
			fmt.Sprintf("schema_version %d, this build reads up to %d", SchemaVersion+1, SchemaVersion)},
		{"not JSON", "{\n  \"schema_version\": 1,\n  oops\n}", ErrNotReport, ":3:3: not a report: not JSON"},
		{"trailing data", `{"schema_version": 1} {}`, ErrNotReport, "not JSON"},
		{"wrong type", "{\"schema_version\": 1,\n \"plan\": 5}", ErrNotReport, ":2:11: not a report: field plan: a JSON number"},
		{"empty file", "", ErrNotReport, "not JSON"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), FileJSON)
			if err := os.WriteFile(p, []byte(c.body), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Read(filepath.Dir(p))
			if !errors.Is(err, c.want) {
				t.Fatalf("Read = %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q does not name the file and say %q", err, c.msg)
			}
		})
	}
}

func TestReadAcceptsBOMAndFilePath(t *testing.T) {
	dir, _ := writeSample(t)
	b, _ := os.ReadFile(filepath.Join(dir, FileJSON))
	p := filepath.Join(t.TempDir(), "copy.json")
	if err := os.WriteFile(p, append([]byte("\xef\xbb\xbf"), b...), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := Read(p)
	if err != nil || d.Report.Plan != "gpu-failover" || d.Path != p {
		t.Fatalf("Read = %+v, %v", d, err)
	}
}

// futureReport is the golden report.json with fields a later build may add:
// top level, inside an object and inside array elements, one of them
// holding secrets.
func futureReport(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden", FileJSON))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["future_section"] = map[string]any{"score": 7, "api_key": "future-secret-1", "note": "see https://u:future-pw-2@h/x"}
	m["capabilities"].(map[string]any)["future_capability"] = true
	m["steps"].([]any)[1].(map[string]any)["future_step_field"] = []any{"a", 1}
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWriteKeepsUnknownFields(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, FileJSON), futureReport(t), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := Read(src)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := Write(out, d.Report, WithOriginal(d.Raw)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(out, FileJSON))
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("re-rendered report.json: %v", err)
	}
	fs, _ := got["future_section"].(map[string]any)
	if fs["score"] != 7.0 || fs["api_key"] != Redacted || fs["note"] != "see https://u:"+Redacted+"@h/x" {
		t.Errorf("future_section = %v", got["future_section"])
	}
	if got["capabilities"].(map[string]any)["future_capability"] != true {
		t.Error("nested unknown field dropped")
	}
	if _, ok := got["steps"].([]any)[1].(map[string]any)["future_step_field"]; !ok {
		t.Error("unknown field of an array element dropped")
	}
	// Without the original, the same report loses them: the test can fail.
	bare := t.TempDir()
	if err := Write(bare, d.Report); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(bare, FileJSON)); bytes.Contains(b, []byte("future_section")) {
		t.Fatal("Write keeps unknown fields without WithOriginal")
	}
	// Known fields render exactly as before: the golden file with the
	// unknown ones removed.
	for _, k := range []string{"future_section"} {
		delete(got, k)
	}
	delete(got["capabilities"].(map[string]any), "future_capability")
	delete(got["steps"].([]any)[1].(map[string]any), "future_step_field")
	var golden map[string]any
	gb, _ := os.ReadFile(filepath.Join("testdata", "golden", FileJSON))
	_ = json.Unmarshal(gb, &golden)
	if gj, _ := json.Marshal(golden); !bytes.Equal(mustJSON(t, got), gj) {
		t.Error("known fields changed in the round trip")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWriteRefusesUnsafeTargets(t *testing.T) {
	for _, c := range []struct {
		name  string
		plant func(t *testing.T, dir, outside string)
		kind  string
	}{
		{"symlink", func(t *testing.T, dir, outside string) {
			if err := os.Symlink(outside, filepath.Join(dir, FileMarkdown)); err != nil {
				t.Fatal(err)
			}
		}, "symlink"},
		{"dangling symlink", func(t *testing.T, dir, outside string) {
			if err := os.Symlink(outside+".new", filepath.Join(dir, FileProm)); err != nil {
				t.Fatal(err)
			}
		}, "symlink"},
		{"directory", func(t *testing.T, dir, _ string) {
			if err := os.Mkdir(filepath.Join(dir, FileJUnit), 0o755); err != nil {
				t.Fatal(err)
			}
		}, "directory"},
		{"fifo", func(t *testing.T, dir, _ string) {
			if err := syscall.Mkfifo(filepath.Join(dir, FileHTML), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "named pipe"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			outside := filepath.Join(t.TempDir(), "precious.txt")
			if err := os.WriteFile(outside, []byte("keep me"), 0o644); err != nil {
				t.Fatal(err)
			}
			c.plant(t, dir, outside)
			before := listDir(t, dir)
			if err := CheckDir(dir); !errors.Is(err, ErrUnsafeTarget) {
				t.Errorf("CheckDir = %v, want ErrUnsafeTarget", err)
			}
			err := Write(dir, sampleReport(""))
			if !errors.Is(err, ErrUnsafeTarget) || !strings.Contains(err.Error(), c.kind) {
				t.Fatalf("Write = %v, want ErrUnsafeTarget naming a %s", err, c.kind)
			}
			if b, _ := os.ReadFile(outside); string(b) != "keep me" {
				t.Error("the file outside was changed")
			}
			if _, err := os.Lstat(outside + ".new"); err == nil {
				t.Error("a file was created through a dangling symlink")
			}
			if after := listDir(t, dir); after != before {
				t.Errorf("refused Write changed the dir: %s -> %s", before, after)
			}
		})
	}
}

func TestWriteLeavesOtherFilesAlone(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "precious.txt")
	_ = os.WriteFile(outside, []byte("keep me"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o600)
	if err := os.Symlink(outside, filepath.Join(dir, "link-out")); err != nil {
		t.Fatal(err)
	}
	if err := CheckDir(dir); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second time over its own files
		if err := Write(dir, sampleReport("")); err != nil {
			t.Fatal(err)
		}
	}
	want := "drill.prom junit.xml link-out notes.txt report.html report.json report.md"
	if got := listDir(t, dir); got != want {
		t.Errorf("dir holds %s, want %s (no temporary files left)", got, want)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "notes.txt")); string(b) != "mine" {
		t.Error("notes.txt changed")
	}
	if b, _ := os.ReadFile(outside); string(b) != "keep me" {
		t.Error("the symlinked file changed")
	}
}

func listDir(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

// TestCanariesInNoFile plants a canary in every kind of place a report can
// carry one (URL userinfo, ?key=, a Bearer header, an sk- key, a known key,
// a secret environment value, unknown fields of an older report.json) and
// greps every written file for each.
func TestCanariesInNoFile(t *testing.T) {
	c := struct{ known, env, url, query, bearer, sk, unknown string }{
		"known-canary-0001", "env-canary-0002", "url-canary-0003", "query-canary-0004",
		"bearer-canary-0005", "sk-canary0006abcdefghijklmnop", "unknown-canary-0007"}
	r := sampleReport(c.known)
	r.Services[1].URL = "http://admin:" + c.url + "@127.0.0.1:8001/?token=" + c.query
	r.Steps[1].Error = "probe: 401 with Authorization: Bearer " + c.bearer + " and key " + c.sk
	r.Capabilities.Notes = append(r.Capabilities.Notes, "MY_TOKEN is "+c.env)
	r.Rollouts[0].Evidence = append(r.Rollouts[0].Evidence, "GET https://gw/?api_key="+c.query)
	red := redact.New(c.known)
	red.AddEnv([]string{"MY_TOKEN=" + c.env})
	dir := t.TempDir()
	if err := Write(dir, r, WithRedactor(red)); err != nil {
		t.Fatal(err)
	}
	// Re-render from an older file that holds the secrets in fields this
	// build does not know.
	raw, _ := os.ReadFile(filepath.Join(dir, FileJSON))
	raw = bytes.Replace(raw, []byte(`"plan":`), []byte(`"legacy": {"password": "`+c.unknown+`", "url": "https://u:`+c.url+`@h", "note": "`+c.known+`"}, "plan":`), 1)
	d, err := decodeForTest(t, raw)
	if err != nil {
		t.Fatal(err)
	}
	again := t.TempDir()
	if err := Write(again, d, WithRedactor(red), WithOriginal(raw)); err != nil {
		t.Fatal(err)
	}
	canaries := []string{c.known, c.env, c.url, c.query, c.bearer, c.sk, c.unknown}
	leaks, err := redacttest.ScanFiles([]string{dir, again}, canaries...)
	if err != nil {
		t.Fatal(err)
	}
	if len(leaks) > 0 {
		t.Errorf("canaries in the reports:\n%s", redacttest.Report(leaks))
	}
	files, _ := redacttest.Files(dir, again)
	if len(files) != 2*len(Files) {
		t.Errorf("scanned %d files, want %d", len(files), 2*len(Files))
	}
	if b, _ := os.ReadFile(filepath.Join(again, FileJSON)); !bytes.Contains(b, []byte(`"legacy"`)) {
		t.Error("the unknown field went missing instead of being masked")
	}
}

func decodeForTest(t *testing.T, raw []byte) (*Report, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), FileJSON)
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		return nil, err
	}
	return Load(p)
}

func TestSameText(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{`{"a": [1, 2]}`, "{\n  \"a\": [\n    1,\n    2\n  ]\n}", true},
		{`{"a": "x y"}`, `{"a":"xy"}`, false},
		{`{"a": "q\"b"}`, `{"a": "q\"b"}`, true},
		{`{"a": "q\"b"}`, `{"a": "q\\b"}`, false},
		{`{"a": 1}`, `{"a": 1, "b": 2}`, false},
		{`[]`, `[ ]`, true},
	} {
		if got := sameText([]byte(c.a), []byte(c.b)); got != c.want {
			t.Errorf("sameText(%s, %s) = %v", c.a, c.b, got)
		}
	}
}
