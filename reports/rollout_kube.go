package reports

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DeploymentRollout is one Kubernetes Deployment's rollout within a
// rolling update: its revisions, how long it took and each pod's times.
type DeploymentRollout struct {
	// Name is namespace/name.
	Name     string `json:"name"`
	Replicas int32  `json:"replicas"`
	// Services are the stack's services (pod slots) that were its pods.
	Services []string `json:"services,omitempty"`
	// RevisionFrom and RevisionTo are the Deployment's revision before and
	// after its rollout; ReplicaSet is the new ReplicaSet.
	RevisionFrom    int64     `json:"revision_from"`
	RevisionTo      int64     `json:"revision_to"`
	ReplicaSet      string    `json:"replica_set,omitempty"`
	StartedAt       time.Time `json:"started_at"`
	DurationSeconds float64   `json:"duration_seconds"`
	// Ready* are over the new pods' creation-to-ready times.
	ReadyP50Seconds float64 `json:"ready_p50_seconds"`
	ReadyP95Seconds float64 `json:"ready_p95_seconds"`
	ReadyMaxSeconds float64 `json:"ready_max_seconds"`
	// Pods are the new pods created and the old pods deleted.
	Pods []RolloutPod `json:"pods,omitempty"`
}

// RolloutPod is one pod of a Deployment's rollout; offsets are seconds
// from the Deployment's rollout start (negative: before it).
type RolloutPod struct {
	Name string `json:"name"`
	// New says the pod is of the new ReplicaSet (else an old pod deleted).
	New bool `json:"new"`
	// CreatedSeconds is when it was created, ReadySeconds how long after
	// its creation it was first ready (new pods), DeletedSeconds when its
	// deletion was first seen (old pods).
	CreatedSeconds float64  `json:"created_seconds"`
	ReadySeconds   *float64 `json:"ready_seconds,omitempty"`
	DeletedSeconds *float64 `json:"deleted_seconds,omitempty"`
}

// AutoRollback is a rollout rolled back because its analysis failed.
type AutoRollback struct {
	// At is when the analysis failed; OffsetSeconds is that from the
	// step's start.
	At            time.Time `json:"at"`
	OffsetSeconds float64   `json:"offset_seconds"`
	// Phase is during or after (the Deployment's rollout).
	Phase string `json:"phase"`
	// Reason is the breached check with its numbers and the change.
	Reason string `json:"reason"`
	// Deployment is the Deployment rolled back (namespace/name), from
	// RevisionFrom (the bad one) to the template of ToRevision; the
	// controller numbers the restored ReplicaSet RevisionAfter.
	Deployment    string `json:"deployment"`
	RevisionFrom  int64  `json:"revision_from"`
	ToRevision    int64  `json:"to_revision"`
	RevisionAfter int64  `json:"revision_after"`
	// DurationSeconds is how long the rollback's own rollout took.
	DurationSeconds float64 `json:"duration_seconds"`
	// Error is set when the rollback itself failed.
	Error string `json:"error,omitempty"`
}

var deploymentHeader = []string{"Deployment", "Services", "Revision", "ReplicaSet", "Replicas", "Started", "Duration", "Pod ready p50 / p95 / max", "Pods (created +s, ready after s, old deleted +s)"}

// deploymentRows are the Deployments of every rollout, then a row per
// automatic rollback.
func deploymentRows(rs []Rollout) [][]string {
	var rows [][]string
	for _, r := range rs {
		for _, d := range r.Deployments {
			rows = append(rows, []string{d.Name, strings.Join(d.Services, ", "),
				fmt.Sprintf("%d → %d", d.RevisionFrom, d.RevisionTo), d.ReplicaSet, strconv.Itoa(int(d.Replicas)),
				fmtTime(d.StartedAt), fmtSeconds(d.DurationSeconds),
				fmt.Sprintf("%s / %s / %s", fmtSeconds(d.ReadyP50Seconds), fmtSeconds(d.ReadyP95Seconds), fmtSeconds(d.ReadyMaxSeconds)),
				podsText(d.Pods)})
		}
		if a := r.AutoRollback; a != nil {
			to := fmt.Sprintf("%d → %d (template of revision %d)", a.RevisionFrom, a.RevisionAfter, a.ToRevision)
			what := fmt.Sprintf("ROLLED BACK at %s (+%s into the step, %s the rollout): %s", fmtTime(a.At), fmtSeconds(a.OffsetSeconds), a.Phase, a.Reason)
			if a.Error != "" {
				what += "; ROLLBACK FAILED: " + a.Error
			}
			rows = append(rows, []string{a.Deployment, "", to, "", "", fmtTime(a.At), fmtSeconds(a.DurationSeconds), "", what})
		}
	}
	return rows
}

// podsText lists pods compactly: "new p1 +0.1s ready 2.3s; old p0 deleted +2.5s".
func podsText(ps []RolloutPod) string {
	const most = 12
	var parts []string
	for i, p := range ps {
		if i == most {
			parts = append(parts, fmt.Sprintf("… %d more in report.json", len(ps)-most))
			break
		}
		if p.New {
			s := fmt.Sprintf("new %s +%s", p.Name, fmtSeconds(p.CreatedSeconds))
			if p.ReadySeconds != nil {
				s += " ready " + fmtSeconds(*p.ReadySeconds)
			} else {
				s += " never ready"
			}
			parts = append(parts, s)
			continue
		}
		s := "old " + p.Name
		if p.DeletedSeconds != nil {
			s += " deleted +" + fmtSeconds(*p.DeletedSeconds)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}
