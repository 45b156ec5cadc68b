package stackfile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiuptime/aiuptime/stack"
)

func TestParseContainers(t *testing.T) {
	f, err := Parse("s.yaml", []byte(`
model_name: tiny
replicas: 3
proxy: always
data_volume_size: 32MiB
model: {version: "2.0.0", size: 4MiB, ttft: 20ms}
services:
  gateway: {port: 4100, health_path: /health/readiness}
  model: {args: ["--itl", "1ms"], env: {A: "1"}, restart_policy: always}
  model-1: {image: "aiuptime/modelserver:canary"}
`))
	if err != nil {
		t.Fatal(err)
	}
	if f.Kind != KindContainers || f.Replicas != 3 || f.Services["model-1"].Image != "aiuptime/modelserver:canary" {
		t.Errorf("decoded %+v", f)
	}
	opts, err := f.ContainerOptions()
	if err != nil {
		t.Fatal(err)
	}
	if len(opts) < 10 {
		t.Errorf("%d options, want every setting mapped", len(opts))
	}
}

func TestParseErrorsHaveLines(t *testing.T) {
	for name, tc := range map[string]struct {
		src, want string
	}{
		"unknown key":   {"kind: containers\nreplicas: 2\nreplcas: 3\n", "s.yaml:3:"},
		"bad kind":      {"kind: podman\n", "s.yaml:1:7: kind: \"podman\""},
		"bad size":      {"model:\n  size: lots\n", "s.yaml:2:9: model.size"},
		"bad duration":  {"model:\n  version: x\n  ttft: soon\n", "s.yaml:3:9: model.ttft"},
		"bad restart":   {"services:\n  model:\n    restart_policy: sometimes\n", "s.yaml:3:21: services.model.restart_policy"},
		"docker both":   {"kind: docker\ndocker:\n  project: p\n  selector: {a: b}\n", "kind docker needs exactly one"},
		"bad role":      {"kind: docker\ndocker:\n  project: p\n  roles: {vllm: gpu}\n", "s.yaml:4:17: docker.roles.vllm"},
		"endpoint url":  {"kind: endpoints\nendpoints:\n  - name: g\n    role: gateway\n    url: localhost:4000\n", "s.yaml:5:10: endpoints[0].url"},
		"wrong type":    {"replicas: [1]\n", "s.yaml:1:"},
		"zero ttft":     {"model:\n  ttft: 0s\n", "s.yaml:2:9: model.ttft: a duration of 0 is refused"},
		"endpoint eth0": {"kind: endpoints\nendpoints:\n  - {name: eth0, role: model, url: \"http://127.0.0.1:1\"}\n", "s.yaml:3:12: endpoints[0].name: \"eth0\" looks like a network interface of the host"},
		"endpoint pid":  {"kind: endpoints\nendpoints:\n  - {name: \"4242\", role: model, url: \"http://127.0.0.1:1\"}\n", "s.yaml:3:12: endpoints[0].name: 4242 is a bare number"},
		"docker host":   {"kind: docker\ndocker:\n  project: p\n  roles: {host: model}\n", "s.yaml:4:11: docker.roles.host: \"host\" names the host"},
		"service lo":    {"services:\n  lo: {image: x}\n", "s.yaml:2:3: services.lo: \"lo\" names the host"},
		"laughs":        {"services:\n  model: {args: [&a [x, x, x, x, x, x, x, x, x, x], &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a], &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b], &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c], &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]]}\n", "more than 20000 nodes: refused"},
		"bad server":    {"model_server: tgi\n", "s.yaml:1:15: model_server: \"tgi\": want one of ollama, vllm"},
		"kube server":   {"kind: kubernetes\nmodel_server: ollama\nkubernetes: {namespace: a, roles: {model: {selector: a=b}}}\n", "s.yaml:2:15: model_server: model_server and served_model are for kinds"},
		"deep":          {"services: " + strings.Repeat("[", 70) + strings.Repeat("]", 70) + "\n", "s.yaml:1:74: nested deeper than 64 levels"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("s.yaml", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestOpenEndpoints(t *testing.T) {
	t.Setenv("TEST_GW_KEY", "sk-test")
	f, err := Parse("e.yaml", []byte(`
kind: endpoints
model_name: m
api_key_env: TEST_GW_KEY
endpoints:
  - {name: gateway, role: gateway, url: "http://127.0.0.1:4000"}
  - {name: model-0, role: model, url: "http://127.0.0.1:8000"}
`))
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Kind() != "endpoints" || st.APIKey() != "sk-test" || st.ModelName() != "m" {
		t.Errorf("stack %s key? %v model %s", st.Kind(), st.APIKey() == "sk-test", st.ModelName())
	}
	svcs, _ := st.Services(context.Background())
	if len(svcs) != 2 || svcs[0].HealthPath != "/health/readiness" {
		t.Errorf("services %+v", svcs)
	}
	if _, ok := st.(stack.Replacer); ok {
		t.Error("an endpoints stack must not offer to replace services")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("kind: containers\nreplicas: 2\n"))
	f.Add([]byte("kind: endpoints\nendpoints: [{name: a, role: model, url: 'http://x'}]\n"))
	f.Add([]byte("services: {model: {args: [a]}}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Parse("f.yaml", b) // must not panic
	})
}

// TestLoadLimitsAndBOM: a stack file is read with the document limits and
// may start with a UTF-8 byte order mark.
func TestLoadLimitsAndBOM(t *testing.T) {
	dir := t.TempDir()
	bom := filepath.Join(dir, "bom.yaml")
	if err := os.WriteFile(bom, []byte("\xef\xbb\xbfkind: containers\nreplicas: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err := Load(bom); err != nil || f.Replicas != 3 {
		t.Fatalf("BOM: %+v, %v", f, err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("kind: containers\n#"+strings.Repeat("x", 1<<20)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{big: "the file is larger than 1048576 bytes", filepath.Join(dir, "no.yaml"): "no such stack file"} {
		_, err := Load(path)
		var ec interface{ ExitCode() int }
		if err == nil || !strings.Contains(err.Error(), path+": "+want) || !errors.As(err, &ec) || ec.ExitCode() != 2 {
			t.Errorf("%s: %v, want exit 2 with %q", path, err, want)
		}
	}
}

// The embedded gateway takes its master key from api_key_env; a variable
// that is not set is an error naming the field, before anything starts.
func TestContainersAPIKeyEnv(t *testing.T) {
	f, err := Parse("c.yaml", []byte("kind: containers\napi_key_env: TEST_EMBEDDED_GW_KEY\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ContainerOptions(); err == nil || !strings.Contains(err.Error(), "c.yaml: api_key_env: environment variable TEST_EMBEDDED_GW_KEY is not set") {
		t.Fatalf("unset variable: %v", err)
	}
	t.Setenv("TEST_EMBEDDED_GW_KEY", "sk-embedded-test-key")
	with, err := f.ContainerOptions()
	if err != nil {
		t.Fatal(err)
	}
	f.APIKeyEnv = ""
	without, _ := f.ContainerOptions()
	if len(with) != len(without)+1 {
		t.Fatalf("options with the key: %d, without: %d", len(with), len(without))
	}
}
