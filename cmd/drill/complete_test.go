package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
)

// complete asks drill's hidden __complete command (what the generated
// bash, zsh and fish scripts call) to complete the last of args, and
// returns the candidates (without descriptions) and the directive.
func complete(t *testing.T, args ...string) ([]string, cobra.ShellCompDirective) {
	t.Helper()
	stdout, stderr, code := cli(t, append([]string{cobra.ShellCompRequestCmd}, args...)...)
	if code != 0 {
		t.Fatalf("__complete %q: exit %d: %s", args, code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	last := lines[len(lines)-1]
	d, err := strconv.Atoi(strings.TrimPrefix(last, ":"))
	if !strings.HasPrefix(last, ":") || err != nil {
		t.Fatalf("__complete %q printed no directive:\n%s", args, stdout)
	}
	var out []string
	for _, l := range lines[:len(lines)-1] {
		name, _, _ := strings.Cut(l, "\t")
		out = append(out, name)
	}
	return out, cobra.ShellCompDirective(d)
}

// TestCompletion completes flag values and arguments in a directory
// holding stack and plan files, a text file and a hidden directory.
func TestCompletion(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"stack.yaml", "other.yml", "notes.txt", "stacks/edge.yaml", "stacks/readme.md", ".git/config.yaml"} {
		writeFile(t, filepath.Join(dir, f), "x: 1\n")
	}
	t.Chdir(dir)
	t.Setenv("AIUPTIME_COMPLETION_TEST_KEY", "value-never-listed")
	const (
		noFile = cobra.ShellCompDirectiveNoFileComp
		noSpc  = cobra.ShellCompDirectiveNoSpace
	)
	shipped := []string{"alerting", "blue-green", "container-loss", "disk-corruption", "emergency-patch", "gpu-failover",
		"kubernetes-bad-release", "kubernetes-chaos-mesh", "monthly-update", "network-degradation", "quarterly-dr"}
	for _, tc := range []struct {
		name string
		args []string
		want []string // nil: check only that the list holds wantSome
		// wantSome must be among the candidates, in any order.
		wantSome  []string
		directive cobra.ShellCompDirective
	}{
		{"run --stack: files, directories and embedded", []string{"run", "--stack", ""},
			[]string{"embedded", "other.yml", "stack.yaml", "stacks/"}, nil, noFile | noSpc},
		{"validate --stack", []string{"validate", "--stack", "st"}, []string{"stack.yaml", "stacks/"}, nil, noFile | noSpc},
		{"--stack inside a directory", []string{"run", "--stack", "stacks/"}, []string{"stacks/edge.yaml"}, nil, noFile},
		{"backup --stack attaches: no embedded", []string{"backup", "--stack", ""}, []string{"other.yml", "stack.yaml", "stacks/"}, nil, noFile | noSpc},
		{"stack up --stack", []string{"stack", "up", "--stack", "e"}, []string{"embedded"}, nil, noFile},
		{"hidden directories when asked", []string{"run", "--stack", ".g"}, []string{".git/"}, nil, noFile | noSpc},
		{"run PLAN: shipped names and plan files", []string{"run", ""}, append(shipped, "other.yml", "stack.yaml", "stacks/"), nil, noFile | noSpc},
		{"run PLAN by prefix", []string{"run", "quar"}, []string{"quarterly-dr"}, nil, noFile},
		{"run takes one PLAN", []string{"run", "quarterly-dr", ""}, []string{}, nil, noFile},
		{"validate takes many", []string{"validate", "quarterly-dr", "gpu"}, []string{"gpu-failover"}, nil, noFile},
		{"run --out: directories", []string{"run", "--out", ""}, []string{}, nil, cobra.ShellCompDirectiveFilterDirs},
		{"backup --out: directories", []string{"backup", "--out", ""}, []string{}, nil, cobra.ShellCompDirectiveFilterDirs},
		{"report DIR", []string{"report", ""}, []string{}, nil, cobra.ShellCompDirectiveFilterDirs},
		{"run --progress", []string{"run", "--progress", ""}, []string{"auto", "always", "never"}, nil, noFile},
		{"fault inject --kind: fault kinds", []string{"fault", "inject", "--kind", ""}, nil,
			[]string{"container-kill", "disk-full", "gpu-kill", "network-partition"}, noFile},
		{"restore --only: a list", []string{"restore", "--only", "models,"}, []string{"models,all", "models,data"}, nil, noFile},
		{"report --threshold: metrics", []string{"report", "--trend", "--threshold", ""}, []string{"availability=", "error_rate=",
			"latency_p50=", "latency_p95=", "latency_p99=", "ttft_p95=", "mttr=", "outages="}, nil, noFile | noSpc},
		{"k6 --image-pull-policy", []string{"k6", "job", "--image-pull-policy", ""}, []string{"Always", "IfNotPresent", "Never"}, nil, noFile},
		{"k6 --script: JavaScript", []string{"k6", "testrun", "--script", ""}, []string{"js"}, nil, cobra.ShellCompDirectiveFilterFileExt},
		{"kube deploy --images: keys", []string{"kube", "deploy", "--images", ""}, []string{"model=", "gateway="}, nil, noFile | noSpc},
		{"--api-key-env: variable names only", []string{"backup", "--api-key-env", "AIUPTIME_COMPLETION_TEST"},
			[]string{"AIUPTIME_COMPLETION_TEST_KEY"}, nil, noFile},
		{"cleanup --state-dir", []string{"cleanup", "--state-dir", ""}, []string{}, nil, cobra.ShellCompDirectiveFilterDirs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, d := complete(t, tc.args...)
			if d != tc.directive {
				t.Errorf("directive %d, want %d", d, tc.directive)
			}
			if tc.want != nil {
				if got == nil {
					got = []string{}
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("candidates (-want +got):\n%s", diff)
				}
			}
			for _, w := range tc.wantSome {
				if !slices.Contains(got, w) {
					t.Errorf("candidates %q lack %q", got, w)
				}
			}
		})
	}
	if _, err := os.Stat("stack.yaml"); err != nil {
		t.Fatal(err) // the cases ran in dir
	}
}
