package drill

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aiuptime/aiuptime/param"
	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/rollout"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
	"github.com/aiuptime/aiuptime/uptime"
)

// This file is blue-green as Kubernetes does it: every blue model
// Deployment gets a green twin (a second Deployment with the release),
// verified with health and the golden prompt; then every Service that
// selected a blue Deployment's pods is switched to its twin's pods, and
// the switch is timed until the Services' endpoints are exactly the green
// pods. Blue keeps running, so the rollback is switching back.

// selectorSwitcher is a stack whose blue-green is a Service selector
// switch (stack/kubernetes).
type selectorSwitcher interface {
	AddServiceFrom(ctx context.Context, from, name string, opts ...stack.ServiceOption) (stack.Service, error)
	RemoveService(ctx context.Context, name string) error
	AdoptService(name string) error
	SelectingServices(ctx context.Context, service string) ([]string, error)
	SwitchService(ctx context.Context, name string, to map[string]string, journal bool) (*kubernetes.SwitchResult, func() error, error)
	DeploymentOf(ctx context.Context, service string) (string, error)
}

// kubeBlueGreen is one blue-green deployment under way.
type kubeBlueGreen struct {
	env    *ActionEnv
	sw     selectorSwitcher
	rep    *reports.Rollout
	start  time.Time
	greens []string
	// greenSvcs are the green services started, with the requests each
	// had served when verified (the golden prompts).
	greenSvcs []stack.Service
	verified  []uint64
	// switched are the Services switched so far, with the selector each
	// had and the forget of its journal record.
	switched []switched
}

type switched struct {
	service string
	from    map[string]string
	forget  func() error
}

func actKubeBlueGreen(ctx context.Context, env *ActionEnv, sw selectorSwitcher, v param.Values) (*ActionOutcome, error) {
	rel := release(v)
	k := &kubeBlueGreen{env: env, sw: sw, start: time.Now(),
		rep: &reports.Rollout{Kind: "blue-green", Target: "model", To: rel.String()}}
	blues, err := k.blues(ctx)
	if err != nil {
		return nil, err
	}
	if v := stack.ServiceVersion(ctx, blues[0].svc); v.Version != "" {
		k.rep.From = v.String()
	}
	for _, b := range blues {
		if err := k.startGreen(ctx, b.svc, rel); err != nil {
			k.abort(ctx, "green "+GreenName(b.svc.Name)+" failed verification: "+err.Error())
			return k.outcome(fmt.Errorf("blue-green: verify green of %s (blue untouched): %w", b.svc.Name, err))
		}
	}
	k.rep.Evidence = append(k.rep.Evidence, fmt.Sprintf("green set %s verified in %.1fs", strings.Join(k.greens, ","), time.Since(k.start).Seconds()))
	if err := k.switchAll(ctx, blues); err != nil {
		k.abort(ctx, "switch failed: "+err.Error())
		return k.outcome(fmt.Errorf("blue-green: %w", err))
	}
	if d := v.Duration("rollback_after"); d > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
		k.noteServed(ctx)
		rb := time.Now()
		if k.env.Event != nil {
			k.env.Event(uptime.Event{At: rb, Kind: uptime.Switched, Target: "model", Detail: "Services switched back to blue (rollback_after)"})
		}
		back, err := k.switchBack(context.WithoutCancel(ctx))
		if err != nil {
			k.rep.Decision = rollout.DecisionAborted
			return k.outcome(fmt.Errorf("blue-green: roll back: %w", err))
		}
		k.rep.RollbackSeconds = secsOf(back)
		k.rep.Decision = rollout.DecisionRolledBack
		k.rep.Evidence = append(k.rep.Evidence, fmt.Sprintf("rolled back: Services switched to blue and their endpoints were blue's in %.3fs; green removed %.1fs later",
			back.Seconds(), time.Since(rb.Add(back)).Seconds()))
		return k.outcome(nil)
	}
	k.noteServed(ctx)
	k.keep()
	env.Shared.Store(SharedLastRollout, &kubeSwitchUndo{k: k})
	return k.outcome(nil)
}

// GreenName is the green twin's service name of a blue service.
func GreenName(blue string) string { return blue + rollout.GreenSuffix }

type blueService struct {
	svc      stack.Service
	services []string // the Services that select its pod
}

// blues are the model services by slot with the Services selecting each;
// a blue no Service selects is an error before anything changes (there is
// nothing to switch).
func (k *kubeBlueGreen) blues(ctx context.Context) ([]blueService, error) {
	svcs, err := rollout.ModelServices(ctx, k.env.Stack)
	if err != nil {
		return nil, err
	}
	var out []blueService
	for _, s := range svcs {
		if _, ok := slotService(s.Name); !ok {
			continue // an added service (a green or a canary left serving)
		}
		names, err := k.sw.SelectingServices(ctx, s.Name)
		if err != nil {
			return nil, fmt.Errorf("blue-green: %w", err)
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("blue-green: no Service selects %s's pod: on kubernetes blue-green switches Services, and there is none (the stack was not touched)", s.Name)
		}
		out = append(out, blueService{svc: s, services: names})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("blue-green: no model services: %w", stack.ErrNotFound)
	}
	return out, nil
}

func slotService(name string) (int, bool) {
	var n int
	_, err := fmt.Sscanf(name, "model-%d", &n)
	return n, err == nil && fmt.Sprintf("model-%d", n) == name
}

// startGreen adds blue's green twin with rel and verifies it: health, and
// the golden prompt against blue's answer (a change is allowed when the
// model version changes).
func (k *kubeBlueGreen) startGreen(ctx context.Context, blue stack.Service, rel rollout.Release) error {
	key := stack.ModelAPIKey(k.env.Stack)
	want, err := askGolden(ctx, blue, key)
	if err != nil {
		return fmt.Errorf("blue %s: golden prompt: %w", blue.Name, err)
	}
	name := GreenName(blue.Name)
	k.greens = append(k.greens, name)
	g, err := k.sw.AddServiceFrom(ctx, blue.Name, name, rel.Options()...)
	if err != nil {
		return err
	}
	if err := rollout.WaitHealthy(ctx, g, 2*time.Minute); err != nil {
		return err
	}
	got, err := askGolden(ctx, g, key)
	if err != nil {
		return fmt.Errorf("golden prompt: %w", err)
	}
	k.greenSvcs = append(k.greenSvcs, g)
	k.verified = append(k.verified, served(ctx, g))
	if got != want {
		if rel.ModelVersion == "" {
			return fmt.Errorf("%w: blue %q, green %q", rollout.ErrGoldenMismatch, want, got)
		}
		k.rep.Evidence = append(k.rep.Evidence, name+": golden answer changed with model version "+rel.ModelVersion+" (allowed)")
	}
	return nil
}

// switchAll switches every blue's Services to its green pods, timed from
// the first change until the last Service's endpoints were green.
func (k *kubeBlueGreen) switchAll(ctx context.Context, blues []blueService) error {
	sw := time.Now()
	var worst time.Duration
	for _, b := range blues {
		to := kubernetes.AddedSelector(GreenName(b.svc.Name))
		for _, name := range b.services {
			res, forget, err := k.sw.SwitchService(ctx, name, to, true)
			if forget != nil {
				k.switched = append(k.switched, switched{service: name, from: nil, forget: forget})
			}
			if res != nil {
				k.switched[len(k.switched)-1].from = res.From
				worst = max(worst, res.Converged)
				green := GreenName(b.svc.Name)
				if d, err := k.sw.DeploymentOf(ctx, green); err == nil {
					green = "Deployment " + d
				}
				k.rep.Evidence = append(k.rep.Evidence, fmt.Sprintf("Service %s (serving %s) switched to green %s: endpoints %s after %.3fs",
					name, b.svc.Name, green, strings.Join(res.Endpoints, ","), res.Converged.Seconds()))
			}
			if err != nil {
				return err
			}
		}
	}
	k.rep.SwitchSeconds = secsOf(time.Since(sw))
	if k.env.Event != nil {
		k.env.Event(uptime.Event{At: sw, Kind: uptime.Switched, Target: "model", Detail: fmt.Sprintf("Services switched to green %s", strings.Join(k.greens, ","))})
	}
	k.rep.Decision = rollout.DecisionPromoted
	k.rep.Evidence = append(k.rep.Evidence, fmt.Sprintf("switched to green in %.3fs (slowest Service %.3fs); blue Deployments keep running for rollback",
		*k.rep.SwitchSeconds, worst.Seconds()))
	return nil
}

// served is how many requests the model server has answered (its
// vllm:e2e_request_latency_seconds count), 0 when it cannot be read.
func served(ctx context.Context, s stack.Service) uint64 {
	fams, err := rollout.Scrape(ctx, s.URL)
	if err != nil {
		return 0
	}
	_, n := rollout.HistSumCount(fams, "vllm:e2e_request_latency_seconds")
	return n
}

// noteServed says in the evidence how many requests each green pod
// answered since it was verified: a Service switch moves new
// connections only, and a client that keeps its connections alive (the
// gateway) may stay on blue.
func (k *kubeBlueGreen) noteServed(ctx context.Context) {
	var parts []string
	var total uint64
	for i, g := range k.greenSvcs {
		n := served(ctx, g)
		total += n - min(k.verified[i], n)
		parts = append(parts, fmt.Sprintf("%s %d", g.Name, n-min(k.verified[i], n)))
	}
	k.rep.Evidence = append(k.rep.Evidence, "requests green answered while switched: "+strings.Join(parts, ", "))
	if total == 0 && len(parts) > 0 {
		k.rep.Evidence = append(k.rep.Evidence, "finding: no request reached green while switched; a Service switch moves new "+
			"connections only (kube-proxy), and clients that keep theirs alive (the gateway) stay on blue until they reconnect")
	}
}

// switchBack puts every switched Service's selector back, then removes
// green and drops the journal records. It returns how long the switch
// took, until the Services' endpoints were blue's again (green's removal
// not counted).
func (k *kubeBlueGreen) switchBack(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	var errs []error
	for _, s := range k.switched {
		if s.from != nil {
			if _, _, err := k.sw.SwitchService(ctx, s.service, s.from, false); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		errs = append(errs, s.forget())
	}
	took := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return took, err // green stays: a Service may still send it traffic
	}
	k.switched = nil
	return took, k.removeGreens(ctx)
}

func (k *kubeBlueGreen) removeGreens(ctx context.Context) error {
	var errs []error
	for _, g := range k.greens {
		errs = append(errs, k.sw.RemoveService(ctx, g))
	}
	k.greens = nil
	return errors.Join(errs...)
}

// abort switches back what was switched and removes green (decision
// aborted).
func (k *kubeBlueGreen) abort(ctx context.Context, why string) {
	k.rep.Decision = rollout.DecisionAborted
	k.rep.Evidence = append(k.rep.Evidence, why)
	if _, err := k.switchBack(context.WithoutCancel(ctx)); err != nil {
		k.rep.Evidence = append(k.rep.Evidence, "cleaning up: "+err.Error())
	}
}

// keep ends a promoted blue-green: the switch and green are the release
// now, so their journal records go (a later cleanup must not undo them).
func (k *kubeBlueGreen) keep() {
	for _, s := range k.switched {
		_ = s.forget()
	}
	for _, g := range k.greens {
		_ = k.sw.AdoptService(g)
	}
}

func (k *kubeBlueGreen) outcome(err error) (*ActionOutcome, error) {
	k.rep.DurationSeconds = time.Since(k.start).Seconds()
	if t := k.env.Traffic; t != nil {
		k.rep.FailedRequests = int64(t.Stats(k.start, time.Now(), "", true).Failed)
	}
	return outcome(k.rep, err)
}

// kubeSwitchUndo is the rollback step's undo of a promoted blue-green:
// switch the Services back to blue and remove green.
type kubeSwitchUndo struct{ k *kubeBlueGreen }

// Run implements the rollback step's undo.
func (u *kubeSwitchUndo) Run(ctx context.Context) (*reports.Rollout, error) {
	start := time.Now()
	_, err := u.k.switchBack(ctx)
	rep := &reports.Rollout{Kind: "rollback", Target: "model", DurationSeconds: time.Since(start).Seconds(),
		RollbackSeconds: secsOf(time.Since(start)), Decision: rollout.DecisionRolledBack,
		Evidence: []string{"undid blue-green: Services switched back to blue, green removed"}}
	if err != nil {
		rep.Decision = rollout.DecisionAborted
		rep.Evidence = append(rep.Evidence, "error: "+err.Error())
		return rep, fmt.Errorf("roll back blue-green: %w", err)
	}
	return rep, nil
}

func secsOf(d time.Duration) *float64 { f := d.Seconds(); return &f }
