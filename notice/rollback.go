package notice

import (
	"fmt"
	"slices"

	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/param"
)

// updates are the actions that move a service to a new release.
var updates = []string{"rolling-update", "blue-green", "canary", "gateway-update", "model-update"}

// rollback says how each of the plan's changes is undone, from its actions.
func rollback(p *plan.Plan) []string {
	var out []string
	backupAt := -1
	faults := false
	for i, s := range p.Steps {
		faults = faults || s.Fault != ""
		if s.Action == "backup" && backupAt < 0 {
			backupAt = i
		}
		line := actionRollback(s)
		if line == "" {
			continue
		}
		if slices.Contains(updates, s.Action) {
			line += backupText(s, p, backupAt)
		}
		out = append(out, line)
	}
	if faults {
		out = append(out, "Every fault is reverted after its duration, by a revert step, or at the end of the run at the latest; "+
			"a revert that fails fails the run loudly (exit 4), and drill cleanup replays it.")
	}
	if len(out) == 0 {
		out = append(out, "The plan changes nothing that needs rolling back.")
	}
	return out
}

// actionRollback says how the change of one action step is undone; "" for
// a step that is not an action.
func actionRollback(s plan.Step) string {
	q := func(format string, args ...any) string {
		return fmt.Sprintf("%q (%s): ", s.Name, s.Action) + fmt.Sprintf(format, args...)
	}
	switch s.Action {
	case "canary":
		return q("each traffic step of the canary is analysed against the current release (error rate at most %s percentage points higher, "+
			"p95 latency at most %s %% higher, at least %s requests); a breach rolls it back automatically: "+
			"its traffic returns to the current release and the canary is removed.",
			paramOr(s, "max_error_rate_increase"), paramOr(s, "max_p95_increase"), paramOr(s, "min_samples"))
	case "rolling-update", "model-update":
		return q("one replica at a time is taken out of the gateway, drained, replaced and checked (health, the golden prompt) before it serves again; " +
			"a replica that fails its checks rolls the replicas already replaced back to the current release. " +
			"On Kubernetes, a breach of the analysis rolls the Deployment back to its previous ReplicaSet.")
	case "blue-green":
		line := q("the current replicas (blue) keep running beside the new ones (green); rolling back is switching the gateway back to blue in one step.")
		if v, ok := s.Params["rollback_after"]; ok {
			line += fmt.Sprintf(" The plan switches back itself after %v.", v)
		}
		return line
	case "gateway-update":
		return q("a second gateway with the new release is started and verified (readiness, a completion through it) before the current one is replaced; " +
			"if it fails, the current gateway is left untouched.")
	case "rollback":
		return q("the plan undoes its last update itself at this step.")
	case "backup":
		return q("a snapshot of configuration, models and gateway data with a checksummed manifest, verified, to restore from.")
	case "restore":
		return q("every checksum of the snapshot is verified before anything is restored (%s).", "only "+paramOr(s, "only"))
	case "", "validate":
		return "" // changes nothing
	}
	return q("see drill list for how this action is undone.")
}

// backupText says how an update step is backed up: by its own backup
// param (a verified backup before anything is touched, unless the step
// opts out), or by an earlier backup step of the plan (step backupAt, -1
// for none).
func backupText(s plan.Step, p *plan.Plan, backupAt int) string {
	switch {
	case hasParam(s.Action, "backup") && paramOr(s, "backup") == "true":
		return " A verified backup of configuration, models and gateway data is taken before anything is touched; " +
			"after an automatic rollback, models and configuration are restored from it."
	case backupAt >= 0:
		return fmt.Sprintf(" A verified backup is taken before it (step %q) and can be restored if the release must be undone beyond that.", p.Steps[backupAt].Name)
	case hasParam(s.Action, "backup"):
		return " The plan takes no backup before this update (backup: false)."
	}
	return ""
}

// hasParam reports whether the action kind takes the param.
func hasParam(action, name string) bool {
	k, err := plan.LookupAction(action)
	return err == nil && slices.ContainsFunc(k.Params, func(p param.Spec) bool { return p.Name == name })
}

// paramOr is the step's param, or the action's documented default.
func paramOr(s plan.Step, name string) string {
	if v, ok := s.Params[name]; ok {
		return fmt.Sprint(v)
	}
	if k, err := plan.LookupAction(s.Action); err == nil {
		for _, p := range k.Params {
			if p.Name == name {
				return p.Default
			}
		}
	}
	return "?"
}
