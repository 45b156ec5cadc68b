package notice

import (
	"strings"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/plans"
	"github.com/aiuptime/aiuptime/reports"
)

func TestChangesAndRollbackInWords(t *testing.T) {
	tests := []struct {
		name  string
		steps string
		// change, touches and rollback hold what each part must say.
		change, touches, rollback []string
	}{
		{"canary", `
  - name: canary 1.1.0
    action: canary
    params: {version: "1.1.0", steps: "5,50,100", max_p95_increase: 20}`,
			[]string{"canary release of the model servers (canary): version 1.1.0, steps 5,50,100"},
			[]string{"canary 1.1.0: canary on every model replica"},
			[]string{"a breach rolls it back automatically", "p95 latency at most 20 % higher", "at least 10 requests"}},
		{"backup before a blue-green switch", `
  - name: snapshot
    action: backup
  - name: switch
    action: blue-green
    params: {image: "aiuptime/modelserver:next", rollback_after: 30s}`,
			[]string{"snapshot: verified backup of configuration, models and gateway data", "image aiuptime/modelserver:next, rollback_after 30s"},
			[]string{"snapshot: backup of every service's volumes", "switch: blue-green on every model replica"},
			[]string{"switching the gateway back to blue in one step", "switches back itself after 30s", "A verified backup"}},
		{"gateway update and restore", `
  - name: new gateway
    action: gateway-update
    params: {args: "--retries 3"}
  - name: restore models
    action: restore
    params: {only: models}`,
			[]string{"update of the gateway (gateway-update): args --retries 3", "restore from a verified backup (restore): only models"},
			[]string{"new gateway: the gateway is replaced"},
			[]string{"the current gateway is left untouched", "every checksum of the snapshot is verified before anything is restored (only models)"}},
		{"faults only", `
  - name: slow model-1
    fault: network-delay
    target: model-1
    params: {delay: 200ms}
    duration: 10s
  - name: back
    await: recovered
    timeout: 30s`,
			[]string{"fault network-delay on model-1 (delay 200ms), for 10s: add latency", "wait until recovered, at most 30s"},
			[]string{"slow model-1: fault network-delay on model-1"},
			[]string{"Every fault is reverted after its duration"}},
		{"observe only", `
  - name: watch
    wait: 5s`,
			[]string{"observe the service for 5s; nothing changes"},
			[]string{"No fault or update: the plan only observes."},
			[]string{"The plan changes nothing that needs rolling back."}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := plan.Parse("p.yaml", []byte("name: p\nsteps:"+tc.steps+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			md := string(Build(Input{Plan: p, Now: time.Now()}).Markdown())
			parts := map[string][]string{"What will change": tc.change, "Risk: what the plan touches": tc.touches, "How rollback works": tc.rollback}
			for title, wants := range parts {
				got := strings.ReplaceAll(mdSection(md, title), `\_`, "_")
				for _, w := range wants {
					if !strings.Contains(got, w) {
						t.Errorf("%s lacks %q:\n%s", title, w, got)
					}
				}
			}
		})
	}
}

func TestRiskFromHistory(t *testing.T) {
	b, err := plans.Read("monthly-update.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Parse("monthly-update.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	run := func(v reports.Verdict, slos []reports.SLOResult, rollouts ...reports.Rollout) Run {
		return Run{Report: &reports.Report{Plan: p.Name, Verdict: v, SLO: slos, Rollouts: rollouts}}
	}
	met := reports.SLOResult{Name: "availability", Compliant: true}
	slow := reports.SLOResult{Name: "latency_p95"}
	skipped := reports.SLOResult{Name: "openslo-thing", NotEvaluated: true}
	runs := []Run{
		run(reports.VerdictPass, []reports.SLOResult{met, skipped}, reports.Rollout{Kind: "canary", Decision: reports.DecisionPromoted}),
		run(reports.VerdictFail, []reports.SLOResult{met, slow}, reports.Rollout{Kind: "canary", Decision: reports.DecisionRolledBack}),
		run(reports.VerdictFail, []reports.SLOResult{slow, {Name: "availability"}}, reports.Rollout{Kind: "canary", Decision: reports.DecisionPromoted}),
	}
	n := Build(Input{Plan: p, Now: time.Now(), History: History{Runs: runs}})
	if n.Risk.Breached != 2 || n.Risk.AutoRollbacks != 1 || n.Risk.RolloutsSeen != 3 || n.Risk.NotPassed != 2 {
		t.Errorf("risk %+v", n.Risk)
	}
	got := strings.ReplaceAll(mdSection(string(n.Markdown()), "Risk: what earlier runs show"), `\_`, "_")
	for _, w := range []string{"2 of 3 earlier runs breached an SLO.", "availability (1 run) and latency_p95 (2 runs)", "2 runs did not pass.", "1 of 3 updates were rolled back automatically."} {
		if !strings.Contains(got, w) {
			t.Errorf("risk lacks %q:\n%s", w, got)
		}
	}
}

// TestBackupBeforeUpdate: an update says where its backup comes from: its
// own (the update actions' backup param, default true), an earlier backup
// step, or none when it opts out.
func TestBackupBeforeUpdate(t *testing.T) {
	rollbackOf := func(t *testing.T, steps string) string {
		t.Helper()
		p, err := plan.Parse("p.yaml", []byte("name: p\nsteps:"+steps+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		return mdSection(string(Build(Input{Plan: p, Now: time.Now()}).Markdown()), "How rollback works")
	}
	const step = "\n  - name: snapshot\n    action: backup\n  - name: patch\n    action: rolling-update\n"
	if !hasParam("rolling-update", "backup") {
		got := rollbackOf(t, step)
		if !strings.Contains(got, `A verified backup is taken before it (step "snapshot")`) {
			t.Errorf("rollback does not name the backup step:\n%s", got)
		}
		t.Skip("this build's updates take no backup param")
	}
	if got := rollbackOf(t, step); !strings.Contains(got, "taken before anything is touched; after an automatic rollback, models and configuration are restored from it") {
		t.Errorf("an update with its default backup:\n%s", got)
	}
	got := rollbackOf(t, "\n  - name: patch\n    action: rolling-update\n    params: {backup: false}\n")
	if !strings.Contains(got, "takes no backup before this update") || strings.Contains(got, "A verified backup") {
		t.Errorf("an update that opts out of its backup:\n%s", got)
	}
}
