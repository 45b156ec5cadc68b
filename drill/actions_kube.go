package drill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/param"
	"github.com/aiuptime/aiuptime/rollout"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
)

// This file is the rolling update of a stack whose model servers are pods
// of Kubernetes Deployments: each target's Deployment is rolled in turn by
// its controller, analysed meanwhile from the probe's traffic (and the
// golden prompt after), and rolled back to its previous ReplicaSet when
// the analysis fails.

// deploymentRoller is a stack that rolls its services' Deployments
// (stack/kubernetes offers it).
type deploymentRoller interface {
	stack.DeploymentRoller
	RollDeployment(ctx context.Context, role stack.Role, change kubernetes.RolloutChange, opts ...kubernetes.RolloutOption) (*kubernetes.RolloutResult, error)
	UndoRollout(ctx context.Context, role stack.Role, toRevision int64, reason string, opts ...kubernetes.RolloutOption) (*kubernetes.RolloutResult, error)
	Namespace() string
}

// Defaults of a Deployment rollout's analysis.
const (
	// DefaultRolloutMaxErrorRate bounds the probe's error rate when neither
	// the step (max_error_rate) nor the plan's SLO (error_rate) sets one:
	// the seed's error-rate alert threshold.
	DefaultRolloutMaxErrorRate = 0.05
	// goldenTries is how often the golden prompt is asked before a pod's
	// answer counts as failed.
	goldenTries = 3
	// goldenTimeout bounds one golden prompt (a pod address the harness
	// cannot reach must not stall the rollout).
	goldenTimeout = 10 * time.Second
)

// JournalKindRollout is the journal record kind of a Deployment rollout in
// progress.
const JournalKindRollout = "rollout"

// deploymentTarget is one Deployment to roll and the services that were
// its pods.
type deploymentTarget struct {
	Deployment string
	Role       stack.Role
	Services   []string
}

// deploymentTargets maps the target services (nil: every model service)
// to their Deployments, each once, in the order of first appearance.
func deploymentTargets(ctx context.Context, st stack.Stack, dr stack.DeploymentRoller, names []string) ([]deploymentTarget, error) {
	svcs, err := st.Services(ctx)
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	role := map[string]stack.Role{}
	all := names == nil
	for _, s := range svcs {
		role[s.Name] = s.Role
		if all && s.Role == stack.RoleModel {
			names = append(names, s.Name)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no model services to roll: %w", stack.ErrNotFound)
	}
	var out []deploymentTarget
	at := map[string]int{}
	for _, n := range names {
		r, ok := role[n]
		if !ok {
			return nil, fmt.Errorf("rollout target %s: %w", n, stack.ErrNotFound)
		}
		if r != stack.RoleModel {
			return nil, fmt.Errorf("rollout target %s has role %s, want model", n, r)
		}
		d, err := dr.DeploymentOf(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("rollout target %s: %w", n, err)
		}
		if i, ok := at[d]; ok {
			out[i].Services = append(out[i].Services, n)
			continue
		}
		at[d] = len(out)
		out = append(out, deploymentTarget{Deployment: d, Role: r, Services: []string{n}})
	}
	return out, nil
}

// deploymentChange is the step's release as a Deployment change: image,
// extra args appended to the container's, surge and unavailability.
func deploymentChange(v param.Values, run string) (kubernetes.RolloutChange, error) {
	c := kubernetes.RolloutChange{Image: v.String("image"), AppendArgs: strings.Fields(v.String("args")), Run: run}
	if c.Image == "" && len(c.AppendArgs) == 0 {
		if v.String("version") != "" {
			return c, errors.New("model-update on kubernetes: the model is in the image; give the image or args that carry version " + v.String("version"))
		}
		return c, errors.New("rolling update on kubernetes: give an image or args")
	}
	surge, unavail := intstr.FromInt32(int32(v.Int("max_surge"))), intstr.FromInt32(int32(v.Int("max_unavailable")))
	if surge.IntVal < 0 || unavail.IntVal < 0 || surge.IntVal+unavail.IntVal == 0 {
		return c, fmt.Errorf("max_surge %d, max_unavailable %d: want >= 0, not both 0", surge.IntVal, unavail.IntVal)
	}
	c.MaxSurge, c.MaxUnavailable = &surge, &unavail
	return c, nil
}

// kubeAnalysis is a Deployment rollout's judgement of the probe's traffic.
type kubeAnalysis struct {
	maxErrorRate float64
	maxP95       time.Duration // 0: no bound
	window       time.Duration
	minSamples   int
	// traffic is the probe's results in [from, to) (nil: no probe).
	traffic func(from, to time.Time) rollout.Stats
}

// newKubeAnalysis reads the thresholds from the step's params, then the
// plan's SLO, then the defaults.
func newKubeAnalysis(env *ActionEnv, v param.Values) kubeAnalysis {
	a := kubeAnalysis{maxErrorRate: DefaultRolloutMaxErrorRate, window: v.Duration("analysis_window"), minSamples: int(v.Int("min_samples"))}
	if env.Plan != nil && env.Plan.SLO.ErrorRate != nil {
		a.maxErrorRate = env.Plan.SLO.ErrorRate.Fraction()
	}
	if v.Has("max_error_rate") {
		a.maxErrorRate = v.Percent("max_error_rate").Fraction()
	}
	if env.Plan != nil {
		a.maxP95 = time.Duration(env.Plan.SLO.LatencyP95)
	}
	if v.Has("max_p95") {
		a.maxP95 = v.Duration("max_p95")
	}
	if t := env.Traffic; t != nil {
		a.traffic = func(from, to time.Time) rollout.Stats {
			s := t.Stats(from, to, "", true)
			return rollout.Stats{Total: s.Total, Failed: s.Failed, ErrorRate: s.ErrorRate, P50: s.P50, P95: s.P95}
		}
	}
	return a
}

// judge returns the breach in words with its numbers, or nil. Fewer than
// minSamples requests are no evidence either way.
func (a kubeAnalysis) judge(s rollout.Stats) error {
	if s.Total < a.minSamples {
		return nil
	}
	if s.ErrorRate > a.maxErrorRate {
		return fmt.Errorf("error rate %.1f%% > %.1f%% (%d of %d probe requests failed)", s.ErrorRate*100, a.maxErrorRate*100, s.Failed, s.Total)
	}
	if a.maxP95 > 0 && s.P95 > a.maxP95 {
		return fmt.Errorf("p95 latency %v > %v (%d probe requests)", s.P95.Round(time.Millisecond), a.maxP95, s.Total)
	}
	return nil
}

// check is the RolloutCheck of a Deployment's rollout started at start:
// the traffic of the last window (not before start) in every phase, and
// golden (if any) once after the rollout completed.
func (a kubeAnalysis) check(start time.Time, golden func(context.Context) error) kubernetes.RolloutCheck {
	asked := false
	return func(ctx context.Context, phase kubernetes.RolloutPhase) error {
		if a.traffic != nil {
			now := time.Now()
			if err := a.judge(a.traffic(later(start, now.Add(-a.window)), now)); err != nil {
				return err
			}
		}
		if phase == kubernetes.PhaseAfter && golden != nil && !asked {
			asked = true
			return golden(ctx)
		}
		return nil
	}
}

// journalRollout returns the RolloutJournal hook that journals the undo
// of a Deployment's rollout before it starts, and where to find the entry.
func journalRollout(j *chaos.Journal, deployment string) (kubernetes.RolloutOption, func() *chaos.Entry) {
	var entry *chaos.Entry
	opt := kubernetes.RolloutJournal(func(u stack.Undo) error {
		e, err := j.Begin(chaos.Record{Kind: JournalKindRollout, Target: deployment, Reverter: u.Func, Mechanism: "kubernetes-deployment",
			Note: "a Deployment rollout in progress: a replay rolls it back to the ReplicaSet it had"}, json.RawMessage(u.State))
		if err != nil {
			return err
		}
		entry = e
		return nil
	})
	return opt, func() *chaos.Entry { return entry }
}

// JournalKindChange is the journal record kind of a change a provider
// journals itself (stack.ChangeJournal): a canary's Deployment, a
// Service's selector switched to green.
const JournalKindChange = "change"

// changeJournal is the stack.ChangeJournal that writes to the drill's
// revert journal.
func changeJournal(j *chaos.Journal) stack.ChangeJournal {
	return func(target string, u stack.Undo, note string) (func() error, error) {
		e, err := j.Begin(chaos.Record{Kind: JournalKindChange, Target: target, Reverter: u.Func, Mechanism: "kubernetes", Note: note},
			json.RawMessage(u.State))
		if err != nil {
			return nil, err
		}
		var once sync.Once
		var rerr error
		return func() error {
			once.Do(func() { rerr = j.Remove(e.Record().ID) })
			return rerr
		}, nil
	}
}
