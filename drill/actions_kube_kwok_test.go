package drill

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kclient "k8s.io/client-go/kubernetes"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/kube/local"
	"github.com/aiuptime/aiuptime/probe"
	"github.com/aiuptime/aiuptime/rollout"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
	"github.com/aiuptime/aiuptime/uptime"
)

// kwokCluster starts a tier-1 local cluster (control plane and kwok) for
// one test, with a kwok node, an opted-in namespace and the Deployments
// model (2 replicas) and gw, and opens the kubernetes stack on it.
func kwokCluster(t *testing.T) (*kubernetes.Stack, kclient.Interface) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no local cluster")
	}
	bin, err := local.BinDir()
	if err == nil {
		err = local.CheckBinaries(bin)
	}
	if err != nil {
		t.Skipf("no local cluster (build it with `make kube`): %v", err)
	}
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "cluster")
	c, err := local.Up(ctx, local.WithStateDir(dir), local.WithBinDir(bin), local.WithName("drillroll"))
	t.Cleanup(func() {
		if err := local.Down(context.Background(), dir); err != nil {
			t.Errorf("local cluster down: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := kubernetes.Conn{Kubeconfig: c.Kubeconfig}.Client()
	if err != nil {
		t.Fatal(err)
	}
	k, v, _ := strings.Cut(local.FakeNodeAnnotation, "=")
	create := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = cli.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "kwok-drill-0",
		Annotations: map[string]string{k: v}, Labels: map[string]string{"type": "kwok"}}}, metav1.CreateOptions{})
	create(err)
	_, err = cli.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "roll",
		Labels: map[string]string{kubernetes.LabelDrill: kubernetes.LabelDrillEnabled}}}, metav1.CreateOptions{})
	create(err)
	for app, n := range map[string]int32{"model": 2, "gw": 1} {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: "roll"}, Spec: appsv1.DeploymentSpec{
			Replicas: &n, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
				Spec: corev1.PodSpec{NodeSelector: map[string]string{"type": "kwok"},
					Containers: []corev1.Container{{Name: app, Image: "aiuptime/" + app + ":dev", Args: []string{"--port", "8000"}}}}}}}
		_, err = cli.AppsV1().Deployments("roll").Create(ctx, d, metav1.CreateOptions{})
		create(err)
	}
	var st *kubernetes.Stack
	waitFor(t, 2*time.Minute, "the stack's pods ready", func() error {
		for app, n := range map[string]int32{"model": 2, "gw": 1} {
			d, err := cli.AppsV1().Deployments("roll").Get(ctx, app, metav1.GetOptions{})
			if err != nil || d.Status.ReadyReplicas != n {
				return fmt.Errorf("deployment %s not ready (%v)", app, err)
			}
		}
		st, err = kubernetes.Open(ctx, kubernetes.WithKubeconfig(c.Kubeconfig), kubernetes.WithNamespace("roll"),
			kubernetes.WithRole(stack.RoleGateway, kubernetes.RoleSelector{Selector: "app=gw"}),
			kubernetes.WithRole(stack.RoleModel, kubernetes.RoleSelector{Deployment: "model"}))
		return err
	})
	return st, cli
}

func waitFor(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// loopTraffic feeds tl with real HTTP requests to a server on loopback
// that fails every other request while bad is set: the probe's traffic,
// as the drill's analysis reads it (kwok pods serve nothing).
func loopTraffic(t *testing.T, tl *TrafficLog, bad *atomic.Bool) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if bad.Load() && n.Add(1)%2 == 0 {
			http.Error(w, "simulated bad release", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait(); srv.Close() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		hc := &http.Client{Timeout: time.Second}
		tick := time.NewTicker(5 * time.Millisecond) // the probe's send interval
		defer tick.Stop()
		for seq := 0; ; seq++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			start := time.Now()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			resp, err := hc.Do(req)
			r := probe.Result{Seq: uint64(seq), Start: start, Latency: time.Since(start), Outcome: probe.Error}
			if err == nil {
				r.Code = resp.StatusCode
				if resp.StatusCode == http.StatusOK {
					r.Outcome = probe.OK
				}
				resp.Body.Close()
			}
			if ctx.Err() == nil {
				tl.Add(r)
			}
		}
	}()
}

// TestKubeRollingUpdateRollsBack runs the rolling-update action on a
// kubernetes stack (kwok tier) with the analysis reading real traffic: a
// bad release is rolled back automatically to the previous ReplicaSet and
// the step passes only when it expects that; the journal is empty after;
// a good release completes with zero failed requests.
func TestKubeRollingUpdateRollsBack(t *testing.T) {
	st, cli := kwokCluster(t)
	ctx := t.Context()
	tl := NewTrafficLog(0)
	var bad atomic.Bool
	bad.Store(true)
	loopTraffic(t, tl, &bad)
	j, err := chaos.OpenJournal(chaos.WithStateDir(filepath.Join(t.TempDir(), "state")), chaos.WithRunLabels("kwok-roll", st.Identity().Labels))
	if err != nil {
		t.Fatal(err)
	}
	var (
		evMu   sync.Mutex
		events []uptime.Event
	)
	env := &ActionEnv{Plan: &plan.Plan{Name: "kube-roll"}, Stack: st, Log: slog.New(slog.NewTextHandler(t.Output(), nil)),
		Traffic: tl, Shared: &sync.Map{}, Journal: j, Event: func(e uptime.Event) { evMu.Lock(); events = append(events, e); evMu.Unlock() }}
	analysis := map[string]any{"golden": false, "direct_samples": 0, "analysis_interval": "100ms", "analysis_window": "1s", "analysis_after": "2s"}
	step := func(name string, more map[string]any) plan.Step {
		p := map[string]any{}
		for k, v := range analysis {
			p[k] = v
		}
		for k, v := range more {
			p[k] = v
		}
		return plan.Step{Name: name, Action: "rolling-update", Params: p}
	}
	args := func() []string {
		d, err := cli.AppsV1().Deployments("roll").Get(ctx, "model", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d.Spec.Template.Spec.Containers[0].Args
	}
	waitFor(t, 30*time.Second, "probe traffic", func() error {
		if s := tl.Stats(time.Now().Add(-time.Second), time.Now(), "", true); s.Total < 20 {
			return fmt.Errorf("%d results", s.Total)
		}
		return nil
	})

	for _, tc := range []struct {
		name       string
		expect     string
		wantFailed bool
	}{{"expected", "rolled-back", false}, {"unexpected", "", true}} {
		t.Run("bad release rolled back, "+tc.name, func(t *testing.T) {
			more := map[string]any{"args": "--error-rate 0.5"}
			if tc.expect != "" {
				more["expect"] = tc.expect
			}
			out, err := actRolling(ctx, env, step("bad release", more))
			if err != nil || out == nil || out.Rollout == nil {
				t.Fatalf("actRolling: %v, %+v", err, out)
			}
			rep, a := out.Rollout, out.Rollout.AutoRollback
			if rep.Decision != rollout.DecisionRolledBack || out.Failed != tc.wantFailed || a == nil {
				t.Fatalf("decision %s, failed %v (%s), auto rollback %+v", rep.Decision, out.Failed, out.Detail, a)
			}
			if !strings.Contains(a.Reason, "error rate") || !strings.Contains(a.Reason, "--error-rate 0.5") || a.Deployment != "roll/model" ||
				a.ToRevision != rep.Deployments[0].RevisionFrom || a.RevisionFrom != rep.Deployments[0].RevisionTo ||
				a.RevisionFrom <= a.ToRevision || a.RevisionAfter <= a.RevisionFrom || a.OffsetSeconds <= 0 {
				t.Errorf("auto rollback %+v, deployments %+v", a, rep.Deployments)
			}
			t.Logf("%s; rolled back +%.2fs into the step (%s the rollout): %s; revision %d -> %d (template of %d) in %.2fs",
				out.Detail, a.OffsetSeconds, a.Phase, a.Reason, a.RevisionFrom, a.RevisionAfter, a.ToRevision, a.DurationSeconds)
			evMu.Lock()
			last := events[len(events)-1:]
			evMu.Unlock()
			if len(last) != 1 || last[0].Kind != uptime.RolledBack || !last[0].At.Equal(a.At) || last[0].Target != "roll/model" {
				t.Errorf("timeline %+v: want the rollback at %v on it", last, a.At)
			}
			if got := args(); strings.Join(got, " ") != "--port 8000" {
				t.Errorf("args after the rollback %q, want the previous revision's", got)
			}
			if recs, err := j.List(); err != nil || len(recs) != 0 {
				t.Errorf("journal after the rollout: %d records (%v), want none", len(recs), err)
			}
		})
	}

	bad.Store(false)
	waitFor(t, 30*time.Second, "healthy traffic", func() error {
		if s := tl.Stats(time.Now().Add(-time.Second), time.Now(), "", true); s.Failed > 0 || s.Total < 10 {
			return fmt.Errorf("%d of %d failed", s.Failed, s.Total)
		}
		return nil
	})
	t.Run("good release completes", func(t *testing.T) {
		out, err := actRolling(ctx, env, step("good release", map[string]any{"image": "aiuptime/model:v2", "max_surge": 1, "max_unavailable": 0}))
		if err != nil || out.Failed || out.Rollout.Decision != rollout.DecisionCompleted || out.Rollout.FailedRequests != 0 || out.Rollout.AutoRollback != nil {
			t.Fatalf("good release: %v, %+v", err, out)
		}
		d := out.Rollout.Deployments[0]
		if d.Name != "roll/model" || d.RevisionTo <= d.RevisionFrom || len(d.Pods) != 4 || d.Services == nil {
			t.Errorf("deployment report %+v", d)
		}
		if recs, _ := j.List(); len(recs) != 0 {
			t.Errorf("journal after the rollout: %d records, want none", len(recs))
		}
		rb, err := actRollback(ctx, env, plan.Step{Name: "rollback", Action: "rollback"})
		if err != nil || rb.Failed || len(rb.Rollout.Deployments) != 1 {
			t.Fatalf("rollback step: %v, %+v", err, rb)
		}
		d2, err := cli.AppsV1().Deployments("roll").Get(ctx, "model", metav1.GetOptions{})
		if err != nil || d2.Spec.Template.Spec.Containers[0].Image != "aiuptime/model:dev" {
			t.Errorf("after the rollback step: %v, image %s, want aiuptime/model:dev", err, d2.Spec.Template.Spec.Containers[0].Image)
		}
	})

	// A drill killed mid-rollout leaves its journal record: `drill
	// cleanup` (chaos.Replay, forced for this live process) rolls the
	// Deployment back to the ReplicaSet it had.
	t.Run("cleanup after a crash mid-rollout", func(t *testing.T) {
		jopt, entry := journalRollout(j, "roll/model")
		change := kubernetes.RolloutChange{Image: "aiuptime/model:crash", Run: "crash"}
		if _, err := st.RollDeployment(ctx, stack.RoleModel, change, kubernetes.RolloutDeployment("model"), jopt); err != nil {
			t.Fatal(err)
		}
		if entry() == nil {
			t.Fatal("the rollout was not journaled")
		}
		res, err := chaos.Replay(ctx, j.Dir(), chaos.WithStateDir(j.StateDir()), chaos.WithRun("kwok-roll"), chaos.WithForce())
		if err != nil || len(res.Reverted) != 1 || len(res.Failed)+len(res.Quarantined) != 0 {
			t.Fatalf("replay: %v, %+v", err, res)
		}
		d, err := cli.AppsV1().Deployments("roll").Get(ctx, "model", metav1.GetOptions{})
		if err != nil || d.Spec.Template.Spec.Containers[0].Image != "aiuptime/model:dev" {
			t.Errorf("after the replay: %v, image %s, want aiuptime/model:dev", err, d.Spec.Template.Spec.Containers[0].Image)
		}
		t.Logf("replayed %s: revision %s, %s", res.Reverted[0].Reverter, d.Annotations[kubernetes.AnnotationRevision], d.Annotations[kubernetes.AnnotationChangeCause])
	})
}
