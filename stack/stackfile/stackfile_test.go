package stackfile

import (
	"context"
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
		"unknown key":  {"kind: containers\nreplicas: 2\nreplcas: 3\n", "s.yaml:3:"},
		"bad kind":     {"kind: podman\n", "s.yaml:1:7: kind: \"podman\""},
		"bad size":     {"model:\n  size: lots\n", "s.yaml:2:9: model.size"},
		"bad duration": {"model:\n  version: x\n  ttft: soon\n", "s.yaml:3:9: model.ttft"},
		"bad restart":  {"services:\n  model:\n    restart_policy: sometimes\n", "s.yaml:3:21: services.model.restart_policy"},
		"docker both":  {"kind: docker\ndocker:\n  project: p\n  selector: {a: b}\n", "kind docker needs exactly one"},
		"bad role":     {"kind: docker\ndocker:\n  project: p\n  roles: {vllm: gpu}\n", "s.yaml:4:17: docker.roles.vllm"},
		"endpoint url": {"kind: endpoints\nendpoints:\n  - name: g\n    role: gateway\n    url: localhost:4000\n", "s.yaml:5:10: endpoints[0].url"},
		"wrong type":   {"replicas: [1]\n", "s.yaml:1:"},
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
