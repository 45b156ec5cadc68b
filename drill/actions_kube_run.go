package drill

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/param"
	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/rollout"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
	"github.com/aiuptime/aiuptime/uptime"
)

// kubeRolling is one rolling-update (or model-update) step on a stack
// that rolls Deployments.
type kubeRolling struct {
	env    *ActionEnv
	dr     deploymentRoller
	v      param.Values
	change kubernetes.RolloutChange
	an     kubeAnalysis
	rep    *reports.Rollout
	start  time.Time
	step   string
	// done are the Deployments rolled to completion, for a later rollback.
	done []kubeDone
}

type kubeDone struct {
	target   deploymentTarget
	revision int64
}

// actKubeRolling rolls each target's Deployment in turn (see the file
// comment of actions_kube.go). A rollout whose analysis fails is rolled
// back by the provider and ends the step: decision rolled-back, which the
// step passes only with expect: rolled-back. A completed update must have
// had zero failed requests.
func actKubeRolling(ctx context.Context, env *ActionEnv, step plan.Step, dr deploymentRoller, v param.Values) (*ActionOutcome, error) {
	run := fmt.Sprintf("%s/%s@%s", planName(env), step.Name, time.Now().UTC().Format(time.RFC3339))
	change, err := deploymentChange(v, run)
	if err != nil {
		return nil, err
	}
	names, err := targetNames(ctx, env, step)
	if err != nil {
		return nil, err
	}
	targets, err := deploymentTargets(ctx, env.Stack, dr, names)
	if err != nil {
		return nil, err
	}
	return runKubeRolling(ctx, env, step, dr, v, change, targets)
}

// actKubeGatewayUpdate is gateway-update on kubernetes: the gateway's
// Deployment rolled as a rolling update is, analysed the same way (the
// golden prompt and direct samples asked of each new gateway pod at its
// own address, with the gateway's key).
func actKubeGatewayUpdate(ctx context.Context, env *ActionEnv, step plan.Step, dr deploymentRoller, v param.Values) (*ActionOutcome, error) {
	run := fmt.Sprintf("%s/%s@%s", planName(env), step.Name, time.Now().UTC().Format(time.RFC3339))
	change, err := deploymentChange(v, run)
	if err != nil {
		return nil, err
	}
	svcs, err := env.Stack.Services(ctx)
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	var t deploymentTarget
	for _, s := range svcs {
		if s.Role != stack.RoleGateway {
			continue
		}
		d, err := dr.DeploymentOf(ctx, s.Name)
		if err != nil {
			return nil, fmt.Errorf("gateway-update: %w", err)
		}
		if t.Deployment != "" && d != t.Deployment {
			return nil, fmt.Errorf("gateway-update: the gateway pods belong to Deployments %s and %s: one at a time is not supported", t.Deployment, d)
		}
		t.Deployment, t.Role = d, stack.RoleGateway
		t.Services = append(t.Services, s.Name)
	}
	if t.Deployment == "" {
		return nil, fmt.Errorf("gateway-update: no gateway service: %w", stack.ErrNotFound)
	}
	return runKubeRolling(ctx, env, step, dr, v, change, []deploymentTarget{t})
}

// runKubeRolling rolls the targets' Deployments in turn and reports.
func runKubeRolling(ctx context.Context, env *ActionEnv, step plan.Step, dr deploymentRoller, v param.Values, change kubernetes.RolloutChange,
	targets []deploymentTarget) (*ActionOutcome, error) {
	k := &kubeRolling{env: env, dr: dr, v: v, change: change, an: newKubeAnalysis(env, v), start: time.Now(), step: step.Name}
	k.rep = &reports.Rollout{Kind: step.Action, Target: deploymentNames(dr, targets), To: rolloutRelease(v)}
	if svc, err := env.Stack.Service(ctx, targets[0].Services[0]); err == nil {
		k.rep.From = svc.Image
	}
	var rerr error
	for _, t := range targets {
		if rerr = k.rollOne(ctx, t); rerr != nil {
			break
		}
	}
	if rerr != nil && len(k.done) > 0 {
		// As on the other stacks, a failing Deployment rolls back the
		// ones this step already updated: the release is bad.
		rb, err := (&kubeUndo{dr: k.dr, done: k.done}).Run(context.WithoutCancel(ctx))
		k.rep.Evidence = append(k.rep.Evidence, "rolled back the Deployments already updated: "+rb.Target)
		if err != nil { // no longer a clean rollback: aborted
			rerr = fmt.Errorf("%v; rolling back the Deployments already updated: %w", rerr, err)
		}
		k.done = nil
	}
	return k.finish(rerr)
}

// rollOne rolls one Deployment, journaled, analysed, and reports it.
func (k *kubeRolling) rollOne(ctx context.Context, t deploymentTarget) error {
	ref := k.dr.Namespace() + "/" + t.Deployment
	golden, note := k.golden(ctx, t)
	if note != "" {
		k.rep.Evidence = append(k.rep.Evidence, ref+": "+note)
	}
	golden = k.withDirectSamples(t, golden)
	jopt, entry := journalRollout(k.env.Journal, ref)
	started := time.Now()
	opts := []kubernetes.RolloutOption{kubernetes.RolloutDeployment(t.Deployment), jopt,
		kubernetes.RolloutAnalysis(k.an.check(started, golden), k.v.Duration("analysis_interval"), k.v.Duration("analysis_after"))}
	res, err := k.dr.RollDeployment(ctx, t.Role, k.change, opts...)
	if res != nil {
		k.rep.Deployments = append(k.rep.Deployments, deploymentReport(ref, t.Services, res))
	}
	e := entry()
	var af *kubernetes.AnalysisFailure
	switch {
	case err == nil:
		k.done = append(k.done, kubeDone{target: t, revision: res.RevisionBefore})
		k.rep.Evidence = append(k.rep.Evidence, fmt.Sprintf("%s: revision %d -> %d in %.1fs, analysis held", ref, res.RevisionBefore, res.RevisionAfter, res.Duration.Seconds()))
		return k.close(e)
	case res != nil && errors.As(err, &af) && errors.Is(err, kubernetes.ErrRolledBack):
		k.rep.AutoRollback = k.autoRollback(ref, res, af, "")
		if cerr := k.close(e); cerr != nil {
			return errors.Join(err, cerr)
		}
		return err
	}
	// The rollout failed (deadline, API error) or its rollback did: put
	// the ReplicaSet it had back from the journal, as `drill cleanup` would.
	if res != nil && errors.As(err, &af) {
		k.rep.AutoRollback = k.autoRollback(ref, res, af, err.Error())
	}
	if e == nil {
		return err
	}
	if rerr := e.Revert()(ctx); rerr != nil {
		return errors.Join(err, rerr)
	}
	k.rep.Evidence = append(k.rep.Evidence, ref+": rolled back to the ReplicaSet it had (journaled undo) after: "+err.Error())
	return err
}

// close removes a finished rollout's journal record.
func (k *kubeRolling) close(e *chaos.Entry) error {
	if e == nil {
		return nil
	}
	return k.env.Journal.Remove(e.Record().ID)
}

func (k *kubeRolling) autoRollback(ref string, res *kubernetes.RolloutResult, af *kubernetes.AnalysisFailure, failure string) *reports.AutoRollback {
	a := &reports.AutoRollback{At: af.At, OffsetSeconds: af.At.Sub(k.start).Seconds(), Phase: string(af.Phase), Reason: af.Reason,
		Deployment: ref, RevisionFrom: res.RevisionAfter, ToRevision: res.RevisionBefore, Error: failure}
	if rb := res.Rollback; rb != nil {
		a.RevisionAfter, a.DurationSeconds = rb.RevisionAfter, rb.Duration.Seconds()
		if rb.Undo != nil {
			a.Reason, a.ToRevision = rb.Undo.Reason, rb.Undo.ToRevision
		}
	}
	if k.env.Event != nil {
		k.env.Event(uptime.Event{At: af.At, Kind: uptime.RolledBack, Step: k.step, Target: ref,
			Detail: fmt.Sprintf("to revision %d: %s", a.ToRevision, a.Reason)})
	}
	return a
}

// finish decides and reports the step.
func (k *kubeRolling) finish(err error) (*ActionOutcome, error) {
	rep := k.rep
	rep.DurationSeconds = time.Since(k.start).Seconds()
	if k.an.traffic != nil {
		rep.FailedRequests = int64(k.an.traffic(k.start, time.Now()).Failed)
	}
	var harness error
	switch {
	case err == nil:
		rep.Decision = rollout.DecisionCompleted
	case errors.Is(err, kubernetes.ErrRolledBack) && rep.AutoRollback != nil && rep.AutoRollback.Error == "":
		rep.Decision = rollout.DecisionRolledBack
		rep.RollbackSeconds = &rep.AutoRollback.DurationSeconds
		rep.Evidence = append(rep.Evidence, fmt.Sprintf("rolled back automatically +%.1fs into the step: %s", rep.AutoRollback.OffsetSeconds, rep.AutoRollback.Reason))
	default:
		rep.Decision = rollout.DecisionAborted
		if chaos.IsRevertError(err) {
			harness = err // something may be left behind: exit code 4
		}
	}
	if len(k.done) > 0 {
		keepKubeUndo(k.env, k.dr, k.done)
	}
	o := &ActionOutcome{Rollout: rep, Detail: fmt.Sprintf("%s %s: %s, %d failed requests", rep.Kind, rep.Target, rep.Decision, rep.FailedRequests)}
	want := k.v.String("expect")
	switch {
	case want != "" && want != rep.Decision:
		o.Failed = true
		o.Detail += fmt.Sprintf(" (expected %s)", want)
	case rep.Decision == rollout.DecisionCompleted && rep.FailedRequests > 0:
		o.Failed = true
		rep.Evidence = append(rep.Evidence, "the bar is zero failed requests")
	case want == "" && rep.Decision != rollout.DecisionCompleted:
		o.Failed = true
	}
	if err != nil && rep.Decision != rollout.DecisionRolledBack {
		o.Detail += ": " + err.Error()
	}
	return o, harness
}

// golden returns the check of the golden prompt on the Deployment's new
// pods (nil when it is off or the answer before could not be had, with
// a note saying why).
func (k *kubeRolling) golden(ctx context.Context, t deploymentTarget) (func(context.Context) error, string) {
	if !k.v.Bool("golden") {
		return nil, ""
	}
	st, key := k.env.Stack, targetKey(k.env.Stack, t)
	svc, err := st.Service(ctx, t.Services[0])
	svc = podAddressed(svc)
	if err != nil || svc.URL == "" {
		return nil, "golden prompt not checked: " + t.Services[0] + " has no address"
	}
	before, err := askGolden(ctx, svc, key)
	if err != nil {
		return nil, "golden prompt not checked: before the rollout: " + err.Error()
	}
	changeOK := k.v.String("version") != ""
	return func(ctx context.Context) error {
		svcs, err := st.Services(ctx)
		if err != nil {
			return fmt.Errorf("golden prompt: list services: %w", err)
		}
		for _, s := range svcs {
			if d, err := k.dr.DeploymentOf(ctx, s.Name); err != nil || d != t.Deployment {
				continue
			}
			a, err := askGolden(ctx, podAddressed(s), key)
			if err != nil {
				return fmt.Errorf("golden prompt on %s (pod %s) failed %d times: %w", s.Name, s.ContainerName, goldenTries, err)
			}
			if a != before && !changeOK {
				return fmt.Errorf("golden prompt answer changed on %s (pod %s): before %q, after %q", s.Name, s.ContainerName, before, a)
			}
		}
		return nil
	}, ""
}

func askGolden(ctx context.Context, svc stack.Service, key string) (string, error) {
	var last error
	for range goldenTries {
		tctx, cancel := context.WithTimeout(ctx, goldenTimeout)
		a, err := rollout.Golden(tctx, svc, key, rollout.DefaultGoldenPrompt)
		cancel()
		if err == nil {
			return a, nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	return "", last
}

// deploymentReport converts a provider's result for the report.
func deploymentReport(ref string, services []string, r *kubernetes.RolloutResult) reports.DeploymentRollout {
	d := reports.DeploymentRollout{Name: ref, Replicas: r.Replicas, Services: services, RevisionFrom: r.RevisionBefore, RevisionTo: r.RevisionAfter,
		ReplicaSet: r.ReplicaSet, StartedAt: r.Start, DurationSeconds: r.Duration.Seconds(),
		ReadyP50Seconds: r.ReadyP50.Seconds(), ReadyP95Seconds: r.ReadyP95.Seconds(), ReadyMaxSeconds: r.ReadyMax.Seconds()}
	for _, p := range r.NewPods {
		rp := reports.RolloutPod{Name: p.Name, New: true, CreatedSeconds: p.Created.Sub(r.Start).Seconds()}
		if !p.Ready.IsZero() {
			rp.ReadySeconds = ptrTo(p.ReadyAfter.Seconds())
		}
		d.Pods = append(d.Pods, rp)
	}
	for _, p := range r.OldPods {
		rp := reports.RolloutPod{Name: p.Name, CreatedSeconds: p.Created.Sub(r.Start).Seconds()}
		if t := firstSet(p.Deleted, p.Gone); !t.IsZero() {
			rp.DeletedSeconds = ptrTo(t.Sub(r.Start).Seconds())
		}
		d.Pods = append(d.Pods, rp)
	}
	return d
}

func ptrTo[T any](v T) *T { return &v }

func firstSet(a, b time.Time) time.Time {
	if a.IsZero() {
		return b
	}
	return a
}

func deploymentNames(dr deploymentRoller, ts []deploymentTarget) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = dr.Namespace() + "/" + t.Deployment
	}
	return strings.Join(names, ",")
}

func rolloutRelease(v param.Values) string {
	return release(v).String()
}

func planName(env *ActionEnv) string {
	if env.Plan == nil {
		return "drill"
	}
	return env.Plan.Name
}

// kubeUndo rolls completed Deployment rollouts back (the rollback step).
type kubeUndo struct {
	dr   deploymentRoller
	done []kubeDone
}

func keepKubeUndo(env *ActionEnv, dr deploymentRoller, done []kubeDone) {
	env.Shared.Store(SharedLastRollout, &kubeUndo{dr: dr, done: done})
}

// Run rolls each Deployment back to the revision it had, last first.
func (u *kubeUndo) Run(ctx context.Context) (*reports.Rollout, error) {
	start := time.Now()
	rep := &reports.Rollout{Kind: "rollback", Decision: rollout.DecisionRolledBack}
	var errs []error
	var targets []string
	for i := len(u.done) - 1; i >= 0; i-- {
		d := u.done[i]
		ref := u.dr.Namespace() + "/" + d.target.Deployment
		targets = append(targets, ref)
		res, err := u.dr.UndoRollout(ctx, d.target.Role, d.revision, "rollback step of the drill", kubernetes.RolloutDeployment(d.target.Deployment))
		if res != nil {
			rep.Deployments = append(rep.Deployments, deploymentReport(ref, d.target.Services, res))
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	rep.Target = strings.Join(targets, ",")
	rep.DurationSeconds = time.Since(start).Seconds()
	rep.RollbackSeconds = ptrTo(rep.DurationSeconds)
	if err := errors.Join(errs...); err != nil {
		rep.Decision = rollout.DecisionAborted
		rep.Evidence = append(rep.Evidence, "error: "+err.Error())
		return rep, fmt.Errorf("roll back deployments: %w", err)
	}
	return rep, nil
}

// withDirectSamples adds to after (the golden prompt's check, or nil) a
// bounded sample of direct_samples chat requests to each of the
// Deployment's new pods at their own address, judged against the error
// rate bound. The probe goes through the gateway, whose retries and
// fallbacks hide a release that fails half of its requests from users
// and so from the probe; the pods' own answers do not.
func (k *kubeRolling) withDirectSamples(t deploymentTarget, after func(context.Context) error) func(context.Context) error {
	n := int(k.v.Int("direct_samples"))
	if n <= 0 {
		return after
	}
	st, key := k.env.Stack, targetKey(k.env.Stack, t)
	return func(ctx context.Context) error {
		if after != nil {
			if err := after(ctx); err != nil {
				return err
			}
		}
		svcs, err := st.Services(ctx)
		if err != nil {
			return fmt.Errorf("direct samples: list services: %w", err)
		}
		for _, s := range svcs {
			if d, err := k.dr.DeploymentOf(ctx, s.Name); err != nil || d != t.Deployment || s.URL == "" {
				continue
			}
			s = podAddressed(s)
			failed, last := 0, error(nil)
			for range n {
				tctx, cancel := context.WithTimeout(ctx, goldenTimeout)
				_, err := rollout.Golden(tctx, s, key, rollout.DefaultGoldenPrompt)
				cancel()
				if err != nil {
					failed, last = failed+1, err
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
			}
			if rate := float64(failed) / float64(n); rate > k.an.maxErrorRate {
				return fmt.Errorf("error rate %.1f%% > %.1f%% (%d of %d direct requests to %s, pod %s, failed; last: %v)",
					rate*100, k.an.maxErrorRate*100, failed, n, s.Name, s.ContainerName, last)
			}
		}
		return nil
	}
}

// targetKey is the key the target's pods want: the gateway's for a
// gateway, the model servers' otherwise.
func targetKey(st stack.Stack, t deploymentTarget) string {
	if t.Role == stack.RoleGateway {
		return st.APIKey()
	}
	return stack.ModelAPIKey(st)
}

// podAddressed is the service asked at its pod's own address: a gateway
// service's URL is its Service's, which any gateway pod may answer.
func podAddressed(s stack.Service) stack.Service {
	if s.Role == stack.RoleGateway && s.InternalURL != "" {
		s.URL = s.InternalURL
	}
	return s
}
