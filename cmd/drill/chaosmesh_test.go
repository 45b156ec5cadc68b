package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/chaosmesh"
	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/kube/local"
	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
)

// TestChaosMeshPlanOnKwok runs plans/kubernetes-chaos-mesh.yaml with
// `drill run --stack` on the kwok tier (the Chaos Mesh CRDs, no
// controller): every step creates its object and removes it, the report
// says the objects were not enforced, nothing is left in the cluster or
// the journal. Then an object of a run that is gone, with no journal
// record, is listed by `drill doctor` and deleted by `drill cleanup`.
func TestChaosMeshPlanOnKwok(t *testing.T) {
	bins, err := local.BinDir()
	if err == nil {
		err = local.CheckBinaries(bins)
	}
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	t.Setenv(chaos.StateDirEnv, state)
	ctx := t.Context()
	cdir := filepath.Join(state, "kube", "mesh-test")
	c, err := local.Up(ctx, local.WithStateDir(cdir), local.WithBinDir(bins), local.WithName("mesh-test"), local.WithChaosMeshCRDs())
	t.Cleanup(func() { _ = local.Down(context.Background(), cdir) })
	if err != nil {
		t.Fatal(err)
	}
	conn := kubernetes.Conn{Kubeconfig: c.Kubeconfig}
	meshWorkload(t, conn, "mesh")
	stackFile := filepath.Join(dir, "stack.yaml")
	writeFile(t, stackFile, fmt.Sprintf("kind: kubernetes\nkubernetes:\n  kubeconfig: %s\n  namespace: mesh\n  roles:\n"+
		"    gateway: {deployment: gateway}\n    model: {deployment: model}\n", c.Kubeconfig))

	out := filepath.Join(dir, "out")
	start := time.Now()
	stdout, code, err := runCLI(t, "run", "--stack", stackFile, "--out", out, "--progress", "never", "../../plans/kubernetes-chaos-mesh.yaml")
	if code != exitcode.Pass {
		t.Fatalf("drill run: exit %d: %v\n%s", code, err, stdout)
	}
	t.Logf("drill run of 5 Chaos Mesh steps took %v", time.Since(start).Round(time.Millisecond))
	r, err := reports.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	faults := 0
	for _, s := range r.Steps {
		if !strings.HasPrefix(s.Kind, "fault:") {
			continue
		}
		faults++
		if s.Status != "passed" || s.Mechanism != "chaos-mesh (created, not enforced: no Chaos Mesh controller)" {
			t.Errorf("step %s: %s, mechanism %q", s.Name, s.Status, s.Mechanism)
		}
	}
	if faults != 5 {
		t.Errorf("%d fault steps in the report, want 5", faults)
	}
	mc, err := chaosmesh.NewClient(conn)
	if err != nil {
		t.Fatal(err)
	}
	if left, err := mc.List(ctx, ""); err != nil || len(left) != 0 {
		t.Fatalf("after the drill: %d objects left (%v)", len(left), err)
	}
	if recs, err := chaos.ListRecords(chaos.JournalDir(state)); err != nil || len(recs) != 0 {
		t.Fatalf("journal after the drill: %v %v", recs, err)
	}

	orphanCleanup(t, mc)
}

// orphanCleanup creates an object of a run that is gone, whose journal
// record is gone too: `drill doctor` lists it (exit 4), `drill cleanup`
// deletes it, and doctor is clean again.
func orphanCleanup(t *testing.T, mc *chaosmesh.Client) {
	ctx := t.Context()
	orphan := chaosmesh.NewPodChaos(chaosmesh.Meta{Name: "aiuptime-orphan", Run: "gone-run", Record: "gone-record"},
		chaosmesh.Target{Pod: chaosmesh.PodRef{Namespace: "mesh", Name: "any"}}, "pod-kill", 0, time.Minute)
	if err := mc.Create(ctx, orphan, "mesh"); err != nil {
		t.Fatal(err)
	}
	stdout, code, _ := runCLI(t, "doctor", "--no-docker")
	if code != exitcode.Revert || !strings.Contains(stdout, chaosmesh.FindingWhat) || !strings.Contains(stdout, "mesh/aiuptime-orphan") {
		t.Fatalf("doctor with an orphan object: exit %d, want %d\n%s", code, exitcode.Revert, stdout)
	}
	t.Logf("drill doctor (exit %d):\n%s", code, stdout)
	stdout, code, _ = runCLI(t, "cleanup", "--no-docker")
	if code != exitcode.Pass || !strings.Contains(stdout, "removed      chaos mesh PodChaos mesh/aiuptime-orphan") {
		t.Fatalf("cleanup: exit %d\n%s", code, stdout)
	}
	t.Logf("drill cleanup (exit %d):\n%s", code, stdout)
	if left, err := mc.List(ctx, ""); err != nil || len(left) != 0 {
		t.Fatalf("after cleanup: %d objects left (%v)", len(left), err)
	}
	stdout, code, _ = runCLI(t, "doctor", "--no-docker")
	if code != exitcode.Pass || strings.Contains(stdout, chaosmesh.FindingWhat) {
		t.Fatalf("doctor after cleanup: exit %d\n%s", code, stdout)
	}
}

// meshWorkload makes a kwok node, the opted-in namespace ns and the
// Deployments gateway (1 replica) and model (2) on the node, and waits
// until they are ready.
func meshWorkload(t *testing.T, conn kubernetes.Conn, ns string) {
	t.Helper()
	ctx := t.Context()
	cli, err := conn.Client()
	if err != nil {
		t.Fatal(err)
	}
	key, val, _ := strings.Cut(local.FakeNodeAnnotation, "=")
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: ns + "-node", Annotations: map[string]string{key: val}, Labels: map[string]string{"type": "kwok"}}}
	if _, err := cli.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{kubernetes.LabelDrill: kubernetes.LabelDrillEnabled}}}
	if _, err := cli.CoreV1().Namespaces().Create(ctx, nsObj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for app, n := range map[string]int32{"gateway": 1, "model": 2} {
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns},
			Spec: appsv1.DeploymentSpec{
				Replicas: &n,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
					Spec: corev1.PodSpec{NodeSelector: map[string]string{"type": "kwok"},
						Containers: []corev1.Container{{Name: app, Image: "aiuptime/modelserver:dev"}}},
				},
			},
		}
		if _, err := cli.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for _, app := range []string{"gateway", "model"} {
		for {
			d, err := cli.AppsV1().Deployments(ns).Get(ctx, app, metav1.GetOptions{})
			if err == nil && d.Status.ReadyReplicas == *d.Spec.Replicas && d.Status.Replicas == *d.Spec.Replicas {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("deployment %s/%s not ready within 2m: %v", ns, app, err)
			}
			time.Sleep(100 * time.Millisecond) // polling the Deployment's status
		}
	}
}
