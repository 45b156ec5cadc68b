package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/aiuptime/aiuptime/exitcode"
	k6kube "github.com/aiuptime/aiuptime/k6run/kube"
)

func TestK6Manifests(t *testing.T) {
	script := "../../k6run/kube/testdata/fixed.js"
	tests := []struct {
		name  string
		args  []string
		code  int
		kinds []string
		want  string
	}{
		{"testrun", []string{"k6", "testrun", "--script", script, "--parallelism", "3", "--namespace", "aiuptime", "--api-key-secret", "gw/key"},
			exitcode.Pass, []string{"ConfigMap", k6kube.KindTestRun}, "secretKeyRef"},
		{"job", []string{"k6", "job", "--script", script, "--parallelism", "2", "--namespace", "aiuptime", "--env", "ITERATIONS=10"},
			exitcode.Pass, []string{"ConfigMap", "Job"}, "completionMode: Indexed"},
		{"no script", []string{"k6", "testrun", "--namespace", "aiuptime"}, exitcode.Usage, nil, ""},
		{"parallelism 0", []string{"k6", "job", "--script", script, "--parallelism", "0", "--namespace", "aiuptime"}, exitcode.Usage, nil, ""},
		{"inline key", []string{"k6", "testrun", "--script", script, "--namespace", "aiuptime", "--env", "API_KEY=sk-inline-1"}, exitcode.Usage, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "out.yaml")
			out, code, err := runCLI(t, append(tt.args, "-o", file)...)
			if code != tt.code {
				t.Fatalf("exit %d (%v), want %d\n%s", code, err, tt.code, out)
			}
			if strings.Contains(out, "sk-inline-1") || (err != nil && strings.Contains(err.Error(), "sk-inline-1")) {
				t.Error("the inline key's value was printed")
			}
			if tt.kinds == nil {
				return
			}
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, doc := range strings.Split(string(b), "---\n") {
				var h struct{ Kind string }
				if err := yaml.Unmarshal([]byte(doc), &h); err != nil {
					t.Fatal(err)
				}
				kinds = append(kinds, h.Kind)
			}
			if strings.Join(kinds, ",") != strings.Join(tt.kinds, ",") || !strings.Contains(string(b), tt.want) {
				t.Errorf("kinds %v, want %v; %q in output: %v", kinds, tt.kinds, tt.want, strings.Contains(string(b), tt.want))
			}
		})
	}
}
