package kubernetes_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/aiuptime/aiuptime/kube/local/localtest"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
)

// loopProbe sends real HTTP requests to a real server on loopback and
// keeps their outcomes: the traffic an analysis judges (kwok pods serve
// nothing, so the "release" is the server's behaviour).
type loopProbe struct {
	mu   sync.Mutex
	seen []probeResult
}

type probeResult struct {
	at time.Time
	ok bool
}

func startProbe(ctx context.Context, t *testing.T, url string) *loopProbe {
	p := &loopProbe{}
	hc := &http.Client{Timeout: time.Second}
	done := make(chan struct{})
	t.Cleanup(func() { <-done })
	go func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			resp, err := hc.Do(req)
			ok := err == nil && resp.StatusCode == http.StatusOK
			if err == nil {
				resp.Body.Close()
			}
			if ctx.Err() != nil {
				return
			}
			p.mu.Lock()
			p.seen = append(p.seen, probeResult{at: time.Now(), ok: ok})
			p.mu.Unlock()
		}
	}()
	return p
}

// stats counts the results since from.
func (p *loopProbe) stats(from time.Time) (total, failed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.seen {
		if r.at.Before(from) {
			continue
		}
		total++
		if !r.ok {
			failed++
		}
	}
	return total, failed
}

// errorRateCheck fails when the probe's error rate over the last window
// exceeds maxRate (with at least 10 results).
func errorRateCheck(p *loopProbe, window time.Duration, maxRate float64) kubernetes.RolloutCheck {
	return func(_ context.Context, _ kubernetes.RolloutPhase) error {
		total, failed := p.stats(time.Now().Add(-window))
		if total < 10 {
			return nil
		}
		if rate := float64(failed) / float64(total); rate > maxRate {
			return fmt.Errorf("error rate %.1f%% > %.1f%% (%d of %d)", rate*100, maxRate*100, failed, total)
		}
		return nil
	}
}

// release is a server on loopback answering 500 to every other request
// while bad is set, else 200.
func release(t *testing.T, bad *atomic.Bool) string {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if bad.Load() && n.Add(1)%2 == 0 {
			http.Error(w, "simulated bad release", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestRolloutAnalysis rolls a Deployment on kwok nodes under an analysis
// fed by real traffic to a loopback server: a bad release is rolled back
// automatically to the previous ReplicaSet with the reason, a good one
// completes, and a journaled rollout left behind is undone by its replay.
func TestRolloutAnalysis(t *testing.T) {
	cli := needCluster(t)
	ctx := t.Context()
	f := fixture{cli: cli, ns: "analysis"}
	f.node(ctx, t, "kwok-analysis-0")
	f.namespace(ctx, t, f.ns, true)
	f.deployment(ctx, t, f.ns, "model", 3, 8000)
	f.deployment(ctx, t, f.ns, "gw", 1, 4000)
	f.waitReady(t, f.ns, "model", 3)
	f.waitReady(t, f.ns, "gw", 1)
	st := must[*kubernetes.Stack](t)(kubernetes.Open(ctx, kubernetes.WithKubeconfig(localtest.Kubeconfig(t)), kubernetes.WithNamespace(f.ns),
		kubernetes.WithRole(stack.RoleGateway, kubernetes.RoleSelector{Selector: "app=gw"}),
		kubernetes.WithRole(stack.RoleModel, kubernetes.RoleSelector{Deployment: "model"}),
		kubernetes.WithLogger(testLogger(t))))
	deployment := func() *appsv1.Deployment {
		return must[*appsv1.Deployment](t)(cli.AppsV1().Deployments(f.ns).Get(ctx, "model", metav1.GetOptions{}))
	}

	t.Run("deployment of a service", func(t *testing.T) {
		for svc, want := range map[string]string{"model-0": "model", "model-2": "model", "gateway": "gw"} {
			if got, err := st.DeploymentOf(ctx, svc); err != nil || got != want {
				t.Errorf("DeploymentOf(%s) = %q, %v; want %s", svc, got, err, want)
			}
		}
		if _, err := st.DeploymentOf(ctx, "model-9"); !errors.Is(err, stack.ErrNotFound) {
			t.Errorf("DeploymentOf(model-9): %v, want ErrNotFound", err)
		}
	})

	var bad atomic.Bool
	bad.Store(true)
	pctx, stopProbe := context.WithCancel(ctx)
	defer stopProbe()
	probe := startProbe(pctx, t, release(t, &bad))
	poll(t, 30*time.Second, "probe traffic", func() error {
		if n, _ := probe.stats(time.Time{}); n < 20 {
			return fmt.Errorf("%d results", n)
		}
		return nil
	})
	check := errorRateCheck(probe, 500*time.Millisecond, 0.05)
	one := intstr.FromInt32(1)
	zero := intstr.FromInt32(0)

	t.Run("bad release rolled back", func(t *testing.T) {
		var journaled []stack.Undo
		change := kubernetes.RolloutChange{AppendArgs: []string{"--error-rate", "0.5"}, Run: "analysis-bad", MaxSurge: &one, MaxUnavailable: &zero}
		res, err := st.RollDeployment(ctx, stack.RoleModel, change, kubernetes.RolloutTimeout(time.Minute),
			kubernetes.RolloutAnalysis(check, 100*time.Millisecond, 2*time.Second),
			kubernetes.RolloutJournal(func(u stack.Undo) error { journaled = append(journaled, u); return nil }))
		if !errors.Is(err, kubernetes.ErrRolledBack) || res == nil {
			t.Fatalf("RollDeployment: %v (result %v), want ErrRolledBack", err, res != nil)
		}
		t.Logf("%v", err)
		a, rb := res.Analysis, res.Rollback
		if a == nil || !strings.Contains(a.Reason, "error rate") || a.At.Before(res.Start) {
			t.Fatalf("analysis failure %+v", a)
		}
		if rb == nil || rb.Undo == nil || rb.Undo.ToRevision != res.RevisionBefore || !strings.HasPrefix(rb.Undo.Reason, a.Reason) ||
			!strings.Contains(rb.Undo.Reason, "--error-rate 0.5") || rb.RevisionAfter <= res.RevisionAfter {
			t.Fatalf("rollback %+v (undo %+v), want to revision %d with the reason", rb, rb.Undo, res.RevisionBefore)
		}
		t.Logf("analysis failed %s the rollout at +%v: %s; rolled back in %v, revision %d -> %d (template of %d)",
			a.Phase, a.At.Sub(res.Start).Round(time.Millisecond), rb.Undo.Reason, rb.Duration.Round(time.Millisecond),
			rb.RevisionBefore, rb.RevisionAfter, rb.Undo.ToRevision)
		d := deployment()
		if args := d.Spec.Template.Spec.Containers[0].Args; len(args) != 0 {
			t.Errorf("args after the rollback %q, want none", args)
		}
		if cause := d.Annotations[kubernetes.AnnotationChangeCause]; !strings.Contains(cause, a.Reason) {
			t.Errorf("change cause %q, want the reason", cause)
		}
		if len(journaled) != 1 || journaled[0].Func != kubernetes.UndoRolloutFunc {
			t.Errorf("journaled %+v, want one %s undo before the change", journaled, kubernetes.UndoRolloutFunc)
		}
		f.waitReady(t, f.ns, "model", 3)
	})

	bad.Store(false)
	t.Run("good release completes", func(t *testing.T) {
		poll(t, 30*time.Second, "healthy traffic", func() error { return check(ctx, kubernetes.PhaseDuring) })
		change := kubernetes.RolloutChange{Image: "aiuptime/model:v2", Run: "analysis-good", MaxSurge: &one, MaxUnavailable: &zero}
		res, err := st.RollDeployment(ctx, stack.RoleModel, change, kubernetes.RolloutTimeout(time.Minute),
			kubernetes.RolloutAnalysis(check, 100*time.Millisecond, time.Second))
		if err != nil || res.Analysis != nil || res.Rollback != nil {
			t.Fatalf("good rollout: %v, analysis %+v", err, res)
		}
		if got := deployment().Spec.Template.Spec.Containers[0].Image; got != change.Image {
			t.Errorf("image %s, want %s", got, change.Image)
		}
	})

	t.Run("journaled rollout undone by replay", func(t *testing.T) {
		var u stack.Undo
		change := kubernetes.RolloutChange{Image: "aiuptime/model:v3", Run: "analysis-crash"}
		must[*kubernetes.RolloutResult](t)(st.RollDeployment(ctx, stack.RoleModel, change, kubernetes.RolloutTimeout(time.Minute),
			kubernetes.RolloutJournal(func(x stack.Undo) error { u = x; return nil })))
		var state map[string]any
		if err := json.Unmarshal(u.State, &state); err != nil || state["replica_set"] == "" {
			t.Fatalf("journaled state %s: %v", u.State, err)
		}
		fn, ok := stack.LookupUndo(u.Func)
		if !ok {
			t.Fatalf("undo %s not registered", u.Func)
		}
		sc := stack.Scope{Run: "k8stest", Labels: st.Identity().Labels, Verify: true}
		for i := range 2 { // the second replay finds nothing to do
			if err := fn(ctx, sc, u.State); err != nil {
				t.Fatalf("replay %d: %v", i, err)
			}
			d := deployment()
			if got := d.Spec.Template.Spec.Containers[0].Image; got != "aiuptime/model:v2" {
				t.Errorf("replay %d: image %s, want aiuptime/model:v2", i, got)
			}
			t.Logf("replay %d: revision %s, %s", i, d.Annotations[kubernetes.AnnotationRevision], d.Annotations[kubernetes.AnnotationChangeCause])
		}
		if err := fn(ctx, stack.Scope{Run: "k8stest", Labels: map[string]string{"other": "x"}, Verify: true}, u.State); !errors.Is(err, stack.ErrUntrusted) {
			t.Errorf("replay with another owner's labels: %v, want ErrUntrusted", err)
		}
	})
}
