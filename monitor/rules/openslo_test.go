package rules_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/aiuptime/aiuptime/monitor/rules"
	"github.com/aiuptime/aiuptime/slo"
)

// promtool is the real promtool (Debian's prometheus package), or a skip.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (apt-get install prometheus): the OpenSLO rules are not checked")
	}
	return p
}

func runPromtool(t *testing.T, bin string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("promtool %s:\n%s", args[0]+" "+args[1], out)
}

// TestOpenSLORulesPromtool renders the example OpenSLO file's ratio SLIs
// (a bare-selector bad/total and a good/total with {{.window}} queries),
// has promtool check them, and proves with promtool test rules that the
// page alert fires for both SLOs while half the requests fail and resolves
// once they stopped failing.
func TestOpenSLORulesPromtool(t *testing.T) {
	bin := promtool(t)
	set, err := slo.LoadOpenSLO("../../examples/openslo/gateway-slos.yaml")
	if err != nil {
		t.Fatal(err)
	}
	groups, notes := rules.OpenSLOGroups(set.Ratios, rules.Spec{Scale: 1, ScrapeInterval: time.Minute})
	if len(groups) != 2 {
		t.Fatalf("%d groups, want one per ratio SLI (2)", len(groups))
	}
	t.Logf("notes: %v", notes)
	b, err := rules.File{Groups: groups}.YAML()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "openslo.rules.yaml")
	if err := os.WriteFile(rulesPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, bin, "check", "rules", rulesPath)

	page := func(at string, firing bool) map[string]any {
		var exp []map[string]any
		for _, g := range groups {
			for _, r := range g.Rules {
				if r.Alert == rules.AlertOpenSLOBudgetBurnPage && firing {
					exp = append(exp, map[string]any{"exp_labels": r.Labels, "exp_annotations": r.Annotations})
				}
			}
		}
		return map[string]any{"eval_time": at, "alertname": rules.AlertOpenSLOBudgetBurnPage, "exp_alerts": exp}
	}
	test := map[string]any{
		"rule_files":          []string{rulesPath},
		"evaluation_interval": "1m",
		"tests": []map[string]any{{
			"interval": "1m",
			// 60 requests a minute; half fail for the first hour, then none.
			"input_series": []map[string]string{
				{"series": `litellm_proxy_total_requests_metric_total{job="litellm"}`, "values": "0+60x240"},
				{"series": `litellm_proxy_failed_requests_metric_total{job="litellm"}`, "values": "0+30x60 1800+0x180"},
			},
			"alert_rule_test": []map[string]any{page("10m", true), page("50m", true), page("200m", false)},
		}},
	}
	tb, err := yaml.Marshal(test)
	if err != nil {
		t.Fatal(err)
	}
	testPath := filepath.Join(dir, "openslo.test.yaml")
	if err := os.WriteFile(testPath, tb, 0o644); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, bin, "test", "rules", testPath)
}

// TestOpenSLOErrorRatioQueries pins how each kind of SLI query becomes an
// error ratio over a window.
func TestOpenSLOErrorRatioQueries(t *testing.T) {
	obj := slo.Objective{Name: "s", Kind: slo.KindAvailability, Target: 0.99}
	for _, c := range []struct {
		name string
		sli  slo.RatioSLI
		want string
	}{
		{"bare counters bad/total", slo.RatioSLI{Bad: `errs_total{code="5xx"}`, Total: "reqs_total", Counter: true},
			`(sum(rate(errs_total{code="5xx"}[5m]))) / (sum(rate(reqs_total[5m])))`},
		{"counter expressions good/total", slo.RatioSLI{Good: "sum(ok_total)", Total: "sum(reqs_total)", Counter: true},
			`1 - (sum(rate((sum(ok_total))[5m:]))) / (sum(rate((sum(reqs_total))[5m:])))`},
		{"window placeholder", slo.RatioSLI{Good: "sum(rate(ok_total[{{.window}}]))", Total: "sum(rate(reqs_total[{{.window}}]))", Counter: true},
			`1 - (sum(rate(ok_total[5m]))) / (sum(rate(reqs_total[5m])))`},
		{"gauges", slo.RatioSLI{Good: "ok_now", Total: "all_now"},
			`1 - (sum(avg_over_time((ok_now)[5m:]))) / (sum(avg_over_time((all_now)[5m:])))`},
		{"raw failure ratio", slo.RatioSLI{Raw: "error_ratio", RawFailure: true}, `avg_over_time((error_ratio)[5m:])`},
		{"raw success ratio", slo.RatioSLI{Raw: "success_ratio"}, `1 - avg_over_time((success_ratio)[5m:])`},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.sli.Name, c.sli.Target = "s", obj
			gs, _ := rules.OpenSLOGroups([]slo.RatioSLI{c.sli}, rules.Spec{Scale: 1, ScrapeInterval: time.Second, Windows: []slo.AlertWindow{{Name: "w", Severity: "page", Long: time.Hour, Short: 5 * time.Minute, Factor: 14.4}}})
			var got []string
			for _, r := range gs[0].Rules {
				if r.Record == rules.RecordOpenSLOErrorRatio+"5m" {
					got = append(got, r.Expr)
				}
			}
			if len(got) != 1 || got[0] != c.want {
				t.Errorf("5m error ratio %q, want %q", got, c.want)
			}
		})
	}
}

// TestGenerateWithOpenSLO: the drill's rule file carries the OpenSLO groups
// after the generated ones when the plan's objectives came from an OpenSLO
// file, and promtool accepts the whole file.
func TestGenerateWithOpenSLO(t *testing.T) {
	bin := promtool(t)
	set, err := slo.LoadOpenSLO("../../examples/openslo/gateway-slos.yaml")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := rules.Generate(rules.Spec{Name: "p", Scale: 720})
	if err != nil {
		t.Fatal(err)
	}
	res, err := rules.GenerateWithOpenSLO(rules.Spec{Name: "p", Scale: 720, SLO: slo.Spec{Loaded: set}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(res.File.Groups), len(plain.File.Groups)+len(set.Ratios); got != want {
		t.Fatalf("%d groups, want %d (generated) + %d (OpenSLO)", got, len(plain.File.Groups), len(set.Ratios))
	}
	var alerts int
	for _, a := range res.File.Alerts() {
		if a == rules.AlertOpenSLOBudgetBurnPage || a == rules.AlertOpenSLOBudgetBurnTicket {
			alerts++
		}
	}
	if alerts != 2*len(set.Ratios) {
		t.Errorf("%d OpenSLO alerts, want a page and a ticket alert per ratio SLI", alerts)
	}
	b, err := res.File.YAML()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, bin, "check", "rules", path)
}
