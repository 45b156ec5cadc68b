package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/monitor/rules"
)

func TestMonitorRulesFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string // in the output or the error
	}{
		{"defaults print the rules", nil, exitcode.Pass, []string{`up{job="litellm"} == 0`, `up{job="vllm"} == 0`, "for: 3s", "< 0.999", "runbook_url"}},
		{"customer selectors", []string{"--gateway-job", "", "--gateway-namespace", "ai-(prod|dev)", "--model-instance", `gpu-\d+:8000`, "--for-scrapes", "2", "--scrape-interval", "30s"},
			exitcode.Pass, []string{`up{namespace=~"ai-(prod|dev)"} == 0`, `instance=~"gpu-\\d+:8000",job="vllm"`, "for: 1m"}},
		{"--alert-availability wins", []string{"--alert-availability", "0.97"}, exitcode.Pass, []string{"< 0.97"}},
		{"bad regex names its flag", []string{"--model-namespace", "ai-("}, exitcode.Usage, []string{"--model-namespace: bad regular expression"}},
		{"empty selector", []string{"--gateway-job", ""}, exitcode.Usage, []string{"--gateway-job, --gateway-namespace, --gateway-instance are all empty"}},
		{"for-scrapes 0", []string{"--for-scrapes", "0"}, exitcode.Usage, []string{"--for-scrapes 0"}},
		{"OpenSLO ratio SLIs add burn-rate rules", []string{"--openslo", "../../examples/openslo/gateway-slos.yaml", "--for-scrapes", "4"}, exitcode.Pass,
			[]string{"aiuptime_openslo:sli_error:ratio_rate1h", `slo="gateway-availability"`, `slo="gateway-monthly-uptime"`, "for: 4s"}},
		{"broken OpenSLO file names its position", []string{"--openslo", "testdata/not-openslo.yaml"}, exitcode.Usage, []string{"testdata/not-openslo.yaml:1:1: apiVersion"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code, err := runCLI(t, append([]string{"monitor", "rules"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d (err %v)\n%s", code, tc.code, err, out)
			}
			all := out
			if err != nil {
				all += err.Error()
			}
			var f rules.File
			if code == exitcode.Pass {
				var doc []string // runCLI mixes stderr's notes into the output
				for _, l := range strings.Split(out, "\n") {
					if !strings.HasPrefix(l, "note: ") {
						doc = append(doc, l)
					}
				}
				if err := yaml.Unmarshal([]byte(strings.Join(doc, "\n")), &f); err != nil {
					t.Fatalf("output is not a rule file: %v", err)
				}
			}
			for _, g := range f.Groups {
				for _, r := range g.Rules {
					all += "\n" + r.Expr + "\nfor: " + r.For
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
		})
	}
}

func TestMonitorRulesOut(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rules")
	out, code, err := runCLI(t, "monitor", "rules", "--out", dir, "--latency-bucket", "2.5")
	if code != exitcode.Pass {
		t.Fatalf("exit %d: %v\n%s", code, err, out)
	}
	for _, name := range []string{rules.FileRules, rules.FileTests} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || len(b) == 0 {
			t.Fatalf("%s: %v (%d bytes)", name, err, len(b))
		}
	}
	tb, _ := os.ReadFile(filepath.Join(dir, rules.FileTests))
	for _, alert := range []string{rules.AlertGatewayDown, rules.AlertLatencyBudgetBurnTicket, "rule_files:\n- " + rules.FileRules} {
		if !strings.Contains(string(tb), alert) {
			t.Errorf("test file lacks %q", alert)
		}
	}
	if strings.Contains(out, "groups:") {
		t.Errorf("--out printed the rules too:\n%s", out)
	}
}
