package reports

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestDeploymentRollout renders a Kubernetes rollout rolled back by its
// analysis: the Markdown and HTML say when, why and to which revision, and
// report.json keeps every field (additively: a report without them reads
// as before).
func TestDeploymentRollout(t *testing.T) {
	start := time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)
	ready := 2.25
	deleted := 2.5
	r := sampleReport("")
	r.Rollouts = append(r.Rollouts, Rollout{Kind: "rolling-update", Target: "aiuptime/aiuptime-model-0", Decision: "rolled-back",
		FailedRequests: 37,
		Deployments: []DeploymentRollout{{Name: "aiuptime/aiuptime-model-0", Replicas: 1, Services: []string{"model-0"},
			RevisionFrom: 1, RevisionTo: 2, ReplicaSet: "aiuptime-model-0-7d9f", StartedAt: start, DurationSeconds: 3.5,
			ReadyP50Seconds: 2.25, ReadyP95Seconds: 2.25, ReadyMaxSeconds: 2.25,
			Pods: []RolloutPod{{Name: "aiuptime-model-0-7d9f-x", New: true, CreatedSeconds: 0.1, ReadySeconds: &ready},
				{Name: "aiuptime-model-0-5c4b-y", CreatedSeconds: -600, DeletedSeconds: &deleted}}}},
		AutoRollback: &AutoRollback{At: start.Add(6 * time.Second), OffsetSeconds: 16, Phase: "after",
			Reason:     `error rate 48.0% > 5.0% (24 of 50 probe requests failed) after rollout of aiuptime/aiuptime-model-0 to extra args "--error-rate 0.5"`,
			Deployment: "aiuptime/aiuptime-model-0", RevisionFrom: 2, ToRevision: 1, RevisionAfter: 3, DurationSeconds: 3}})
	md, err := Markdown(r)
	if err != nil {
		t.Fatal(err)
	}
	page, err := HTML(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Deployment rollouts (Kubernetes)", "aiuptime-model-0-7d9f", "1 → 2", "2 → 3 (template of revision 1)",
		"ROLLED BACK", "after the rollout", "error rate 48.0%", "--error-rate 0.5", "ready 2.250 s", "deleted"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
		if !strings.Contains(string(page), want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	b, err := json.Marshal(r.Rollouts[len(r.Rollouts)-1])
	if err != nil {
		t.Fatal(err)
	}
	var back Rollout
	if err := json.Unmarshal(b, &back); err != nil || back.AutoRollback == nil || back.AutoRollback.ToRevision != 1 ||
		len(back.Deployments) != 1 || *back.Deployments[0].Pods[0].ReadySeconds != ready {
		t.Errorf("report.json round trip: %s (%v)", b, err)
	}
	for _, key := range []string{`"auto_rollback"`, `"offset_seconds":16`, `"to_revision":1`, `"revision_from":1`, `"replica_set"`, `"ready_seconds":2.25`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("report.json lacks %s: %s", key, b)
		}
	}
	if b, _ := json.Marshal(Rollout{Kind: "canary", Decision: "promoted"}); strings.Contains(string(b), "deployments") || strings.Contains(string(b), "auto_rollback") {
		t.Errorf("a rollout without Deployments grew fields: %s", b)
	}
}
