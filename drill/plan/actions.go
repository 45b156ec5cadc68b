package plan

import (
	"fmt"
	"strings"

	"github.com/aiuptime/aiuptime/param"
	"github.com/aiuptime/aiuptime/stack"
)

// ActionKind describes an action a plan step can perform: its params and
// the stack capabilities it needs. Package drill implements each one (a
// test checks the two agree).
type ActionKind struct {
	Name   string             `json:"name"`
	Doc    string             `json:"doc"`
	Params []param.Spec       `json:"params,omitempty"`
	Needs  []stack.Capability `json:"needs"`
}

// AwaitKind describes what an await step can wait for.
type AwaitKind struct {
	Name string `json:"name"`
	Doc  string `json:"doc"`
}

// releaseParams are the params of actions that move model servers to a release.
var releaseParams = []param.Spec{
	{Name: "image", Type: param.String, Doc: "new image (checked to exist before anything is touched)"},
	{Name: "version", Type: param.String, Doc: "new model version: a freshly generated model dir (the golden answer may change)"},
	{Name: "args", Type: param.String, Doc: "extra server arguments, space-separated, e.g. \"--extra-latency 500ms\""},
	{Name: "drain_timeout", Type: param.Duration, Default: "30s", Positive: true, Doc: "wait for a replica's in-flight requests (vllm:num_requests_running = 0)"},
}

// backupParam is the param of the actions that update a release: a
// verified backup first, unless the step opts out.
var backupParam = param.Spec{Name: "backup", Type: param.Bool, Default: "true",
	Doc: "take a verified backup (configuration, models, gateway data; every checksum checked) into the state dir before anything is touched; a failed backup fails the step before it starts; after an automatic rollback, models and configuration are restored from it. " +
		"A stack without volumes (kubernetes without host_path_roots, endpoints) is not backed up and the rollout's report says so; false: no backup"}

func withParams(base []param.Spec, more ...param.Spec) []param.Spec {
	return append(append([]param.Spec(nil), base...), more...)
}

var rollout = []stack.Capability{stack.CapReplace}

// rolling is what a rolling update needs: services replaced one at a time,
// or (Kubernetes) their Deployment rolled.
var rolling = []stack.Capability{stack.CapRollout}

// deploymentParams are the rolling-update params of a Deployment rollout
// (a kubernetes stack); other stacks ignore them, except expect.
var deploymentParams = []param.Spec{
	{Name: "max_surge", Type: param.Int, Default: "1", Unit: "pods", Doc: "kubernetes: the Deployment's maxSurge during the rollout: pods above the desired count"},
	{Name: "max_unavailable", Type: param.Int, Default: "0", Unit: "pods", Doc: "kubernetes: the Deployment's maxUnavailable during the rollout: pods below the desired count (0 with max_surge 1: a new pod is ready before an old one goes)"},
	{Name: "max_error_rate", Type: param.Percent, Unit: "%", Doc: "kubernetes: roll back when the probe's error rate over analysis_window exceeds this (default: the plan's slo.error_rate, else 5%)"},
	{Name: "max_p95", Type: param.Duration, Doc: "kubernetes: roll back when the probe's p95 latency over analysis_window exceeds this (default: the plan's slo.latency_p95, else no bound)"},
	{Name: "analysis_interval", Type: param.Duration, Default: "1s", Positive: true, Doc: "kubernetes: how often the analysis runs during and after each Deployment's rollout"},
	{Name: "analysis_window", Type: param.Duration, Default: "10s", Positive: true, Doc: "kubernetes: the probe traffic each analysis judges: the last this long (not before the Deployment's rollout started)"},
	{Name: "analysis_after", Type: param.Duration, Default: "10s", Doc: "kubernetes: keep analysing this long after each Deployment's rollout completed"},
	{Name: "min_samples", Type: param.Int, Default: "10", Positive: true, Doc: "kubernetes: probe requests an analysis window needs before its error rate and p95 are judged"},
	{Name: "direct_samples", Type: param.Int, Default: "20", Doc: "kubernetes: after each Deployment's rollout, send this many requests straight to each new pod and judge their error rate (the gateway's retries hide failures from the probe); 0 turns it off"},
	{Name: "golden", Type: param.Bool, Default: "true", Doc: "kubernetes: after each Deployment's rollout, ask its new pods the golden prompt and roll back when the answer changed (a new version may change it)"},
	{Name: "expect", Type: param.Enum, Enum: []string{"completed", "rolled-back"}, Doc: "the decision this step expects (a different one fails the step); with rolled-back, the zero-failed-requests bar does not apply"},
}

// ActionKinds is every action kind.
var ActionKinds = []ActionKind{
	{Name: "rolling-update", Needs: rolling, Params: withParams(withParams(releaseParams, deploymentParams...), backupParam),
		Doc: "replace model replicas (target; default all) one at a time: delete from the gateway, drain, replace, health and golden check, re-add; zero failed requests is the bar; a failing replica rolls the replaced ones back. " +
			"On kubernetes: roll each target's Deployment in turn (image, extra args, max_surge/max_unavailable), analysing the probe's error rate and p95 and the golden prompt during and after; a breach rolls the Deployment back to its previous ReplicaSet automatically"},
	{Name: "blue-green", Needs: rollout, Params: withParams(releaseParams,
		param.Spec{Name: "rollback_after", Type: param.Duration, Doc: "switch back to blue after this long and time it (default: stay on green; a later rollback step undoes)"}, backupParam),
		Doc: "start a green twin of every replica, verify it, switch the gateway in one admin step, keep blue for an instant rollback; reports switch and rollback times"},
	{Name: "canary", Needs: rollout, Params: withParams(releaseParams,
		param.Spec{Name: "steps", Type: param.String, Default: "5,25,50,100", Doc: "canary traffic shares in percent"},
		param.Spec{Name: "interval", Type: param.Duration, Default: "10s", Positive: true, Doc: "analysis interval per step (extended up to 4x for min_samples)"},
		param.Spec{Name: "max_error_rate_increase", Type: param.Percent, Default: "1", Unit: "percentage points", Doc: "allowed error-rate increase over the baseline"},
		param.Spec{Name: "max_p95_increase", Type: param.Percent, Default: "50", Unit: "%", Doc: "allowed p95 increase over the baseline"},
		param.Spec{Name: "min_samples", Type: param.Int, Default: "10", Positive: true, Doc: "canary requests needed per step"},
		param.Spec{Name: "promote", Type: param.Enum, Enum: []string{"rolling", "keep"}, Default: "rolling", Doc: "rolling: roll the baseline replicas to the release and remove the canary; keep: leave the canary serving alone"},
		param.Spec{Name: "expect", Type: param.Enum, Enum: []string{"promoted", "rolled-back"}, Doc: "the decision this step expects (a different one fails the step)"}, backupParam),
		Doc: "add a canary replica and shift weights in steps, analysing each interval against the baseline (error rate <= baseline + increase, p95 <= baseline x (1 + increase), min samples); roll back on a breach, else promote"},
	{Name: "rollback", Needs: rollout,
		Doc: "undo the last rollout of this drill (blue-green: switch back to blue; rolling-update: roll the replicas back)"},
	{Name: "gateway-update", Needs: rollout, Params: withParams([]param.Spec{
		{Name: "image", Type: param.String, Doc: "new gateway image"}, {Name: "args", Type: param.String, Doc: "extra gateway arguments"}}, withParams(deploymentParams, backupParam)...),
		Doc: "start a second gateway instance with the new release, verify it, drain-and-replace the primary while it serves, remove the second (a client pinned to the primary's one port sees the restart gap). " +
			"On kubernetes: roll the gateway's Deployment, analysed as a rolling update is (the golden prompt and direct samples asked of each new gateway pod)"},
	{Name: "model-update", Needs: rolling, Params: withParams(withParams(releaseParams[:1:1], param.Spec{Name: "version", Type: param.String, Required: true,
		Doc: "new model version: a freshly generated model dir (kubernetes: the image or args that carry it must be given too)"}, releaseParams[2], releaseParams[3]), withParams(deploymentParams, backupParam)...),
		Doc: "rolling update to a new model version (the golden prompt may change, and the report says so)"},
	{Name: "backup", Needs: []stack.Capability{stack.CapVolumes}, Params: []param.Spec{
		{Name: "dir", Type: param.String, Doc: "snapshot directory (default: a new dir under the state dir)"}},
		Doc: "snapshot configuration, models, gateway data (SQLite VACUUM INTO, while serving) and system state with a checksummed manifest"},
	{Name: "restore", Needs: []stack.Capability{stack.CapVolumes, stack.CapLifecycle}, Params: []param.Spec{
		{Name: "dir", Type: param.String, Doc: "snapshot directory (default: the drill's last backup)"},
		{Name: "only", Type: param.Enum, Enum: []string{"all", "models", "data", "config"}, Default: "all", Doc: "what to restore"}},
		Doc: "verify every checksum of a snapshot, then restore it (target: only these services' models); measures RTO with phases, RPO in rows and seconds, golden prompt"},
	{Name: "validate", Needs: []stack.Capability{}, Params: validateParams,
		Doc: "validation after an update: functional checks (every service healthy, the golden prompt of each model replica against the answer recorded by the update's backup, allowed to change when the run's rollout changed the model version, one real chat completion through the gateway with its key) " +
			"and a performance comparison of the probe's traffic against the baseline step: p50 and p95 latency, TTFT p95 (streamed requests), throughput and error rate. " +
			"A metric worse than the baseline beyond the tolerance and beyond the floor is a regression and fails the step"},
}

// validateParams are the params of validate.
var validateParams = []param.Spec{
	{Name: "baseline", Type: param.String, Doc: "the name of an earlier step whose probe traffic is the baseline, e.g. \"steady state\" (without it only the functional checks run)"},
	{Name: "after", Type: param.String, Doc: "the name of an earlier step whose probe traffic is compared (default: the validate step measures for duration)"},
	{Name: "duration", Type: param.Duration, Default: "10s", Positive: true, Doc: "how long the validate step measures the probe's traffic itself (without after)"},
	{Name: "tolerance", Type: param.Percent, Default: "25", Unit: "%", Doc: "relative worsening allowed per metric"},
	{Name: "min_delta", Type: param.Duration, Default: "50ms", Doc: "latency and TTFT floor: a worsening smaller than this is no regression, whatever the tolerance (2 ms to 3 ms is +50 % but nothing a user sees)"},
	{Name: "max_error_rate_increase", Type: param.Percent, Default: "1", Unit: "percentage points", Doc: "error-rate floor: an increase smaller than this is no regression"},
	{Name: "min_samples", Type: param.Int, Default: "20", Positive: true, Doc: "probe requests each window needs before it is compared (fewer: not measured)"},
}

// LookupAction returns the action kind with the name; an unknown name is an
// error listing the known ones.
func LookupAction(name string) (ActionKind, error) {
	for _, k := range ActionKinds {
		if k.Name == name {
			return k, nil
		}
	}
	names := make([]string, len(ActionKinds))
	for i, k := range ActionKinds {
		names[i] = k.Name
	}
	return ActionKind{}, fmt.Errorf("unknown action %q (known: %s)", name, strings.Join(names, ", "))
}
