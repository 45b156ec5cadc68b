package kubernetes_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kclient "k8s.io/client-go/kubernetes"

	"github.com/aiuptime/aiuptime/chaos/chaosmesh"
	"github.com/aiuptime/aiuptime/internal/fixturebin"
	"github.com/aiuptime/aiuptime/kube/local"
	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
)

// The kwok tier: the control plane with simulated nodes and the Chaos
// Mesh CRDs (no controller), for what needs many pods or cluster objects
// but no process serving: a drill drives a 100-replica rollout and
// measures it, and a drill creates and removes Chaos Mesh objects.
var _ = Describe("a drill on the kwok tier", Ordered, Label("kubernetes", "kwok"), func() {
	const ns, replicas = "kwok", 100
	var (
		stateDir   string
		kubeconfig string
		stackFile  string
	)

	BeforeAll(func(ctx SpecContext) {
		root, err := fixturebin.ModuleRoot()
		Expect(err).NotTo(HaveOccurred())
		if _, err := os.Stat(filepath.Join(root, "bin", "kube", "kwok")); err != nil {
			Skip("bin/kube/kwok is missing: run `make kube`")
		}
		stateDir = filepath.Join(GinkgoT().TempDir(), "kwok")
		up := drill(ctx, nil, "kube", "up", "--state", stateDir, "--name", "kwok-tier", "--chaos-mesh")
		DeferCleanup(func(ctx SpecContext) {
			down := drill(ctx, nil, "kube", "down", "--state", stateDir)
			Expect(down.Code).To(Equal(0), down.Stderr)
		}, NodeTimeout(2*time.Minute))
		Expect(up.Code).To(Equal(0), up.Stderr)
		lines := strings.Fields(strings.TrimSpace(up.Stdout))
		Expect(lines).NotTo(BeEmpty())
		kubeconfig = lines[len(lines)-1]
		kwokWorkload(ctx, client(kubeconfig), ns, replicas)
		stackFile = filepath.Join(GinkgoT().TempDir(), "kwok.yaml")
		Expect(os.WriteFile(stackFile, fmt.Appendf(nil, "kind: kubernetes\nkubernetes:\n  kubeconfig: %s\n  namespace: %s\n  roles:\n"+
			"    gateway: {deployment: gateway}\n    model: {deployment: model}\n", kubeconfig, ns), 0o600)).To(Succeed())
	}, NodeTimeout(5*time.Minute))

	It("drives and measures a rolling update of a 100-replica Deployment", func(ctx SpecContext) {
		// kwok's pods answer nothing: the probe's failures are no evidence
		// here, so the analysis bound is off and no pod is asked directly.
		plan := filepath.Join(GinkgoT().TempDir(), "rollout.yaml")
		Expect(os.WriteFile(plan, []byte(`name: kwok-rollout
probe: {interval: 1s, mode: health, target: gateway, timeout: 1s}
service_probes: {mode: off}
steps:
  - name: roll 100 replicas
    action: rolling-update
    params: {args: "--release 2", max_surge: 25, max_unavailable: 25, max_error_rate: 100, direct_samples: 0, golden: false, analysis_after: 1s}
    timeout: 4m
`), 0o600)).To(Succeed())
		out := filepath.Join(GinkgoT().TempDir(), "out")
		r := drill(ctx, nil, "run", plan, "--stack", stackFile, "--out", out, "--progress", "never")
		rep, err := reports.Load(out)
		Expect(err).NotTo(HaveOccurred(), r.Stderr)
		Expect(rep.Rollouts).To(HaveLen(1))
		ro := rep.Rollouts[0]
		Expect(ro.Decision).To(Equal("completed"), "%v", ro.Evidence)
		Expect(ro.Deployments).To(HaveLen(1))
		d := ro.Deployments[0]
		Expect(d.Replicas).To(BeEquivalentTo(replicas))
		newPods := 0
		for _, p := range d.Pods {
			if p.New {
				newPods++
			}
		}
		Expect(newPods).To(Equal(replicas), "every new pod measured")
		Expect(d.DurationSeconds).To(BeNumerically(">", 0))
		Expect(d.ReadyMaxSeconds).To(BeNumerically(">=", d.ReadyP95Seconds))
		// The cluster's own word: every replica runs the new template.
		dep, err := client(kubeconfig).AppsV1().Deployments(ns).Get(ctx, "model", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(dep.Status.UpdatedReplicas).To(BeEquivalentTo(replicas))
		Expect(strings.Join(dep.Spec.Template.Spec.Containers[0].Args, " ")).To(Equal("--release 2"))
		AddReportEntry("100-replica rollout on kwok", map[string]any{"duration_s": d.DurationSeconds,
			"ready_p50_s": d.ReadyP50Seconds, "ready_p95_s": d.ReadyP95Seconds, "revision": fmt.Sprintf("%d -> %d", d.RevisionFrom, d.RevisionTo)})
	}, SpecTimeout(6*time.Minute))

	It("creates and removes Chaos Mesh objects with a drill", func(ctx SpecContext) {
		out := filepath.Join(GinkgoT().TempDir(), "out")
		r := drill(ctx, nil, "run", "plans/kubernetes-chaos-mesh.yaml", "--stack", stackFile, "--out", out, "--progress", "never")
		Expect(r.Code).To(Equal(0), r.Stderr)
		rep, err := reports.Load(out)
		Expect(err).NotTo(HaveOccurred())
		faults := 0
		for _, s := range rep.Steps {
			if strings.HasPrefix(s.Kind, "fault:") {
				faults++
				Expect(s.Status).To(Equal(reports.StatusPassed), s.Name)
				Expect(s.Mechanism).To(ContainSubstring("created, not enforced"), s.Name)
			}
		}
		Expect(faults).To(Equal(5))
		mc, err := chaosmesh.NewClient(kubernetes.Conn{Kubeconfig: kubeconfig})
		Expect(err).NotTo(HaveOccurred())
		left, err := mc.List(ctx, "")
		Expect(err).NotTo(HaveOccurred())
		Expect(left).To(BeEmpty(), "Chaos Mesh objects left in the cluster")
	}, SpecTimeout(4*time.Minute))
})

// kwokWorkload makes a kwok node, the opted-in namespace, a gateway
// Deployment and a model Deployment of n replicas, and waits for them.
func kwokWorkload(ctx context.Context, cli kclient.Interface, ns string, n int32) {
	GinkgoHelper()
	key, val, _ := strings.Cut(local.FakeNodeAnnotation, "=")
	_, err := cli.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: ns + "-node",
		Annotations: map[string]string{key: val}, Labels: map[string]string{"type": "kwok"}}}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	_, err = cli.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{kubernetes.LabelDrill: kubernetes.LabelDrillEnabled}}}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	for app, r := range map[string]int32{"gateway": 1, "model": n} {
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns},
			Spec: appsv1.DeploymentSpec{
				Replicas: &r,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
					Spec: corev1.PodSpec{NodeSelector: map[string]string{"type": "kwok"},
						Containers: []corev1.Container{{Name: app, Image: "aiuptime/" + app + ":dev"}}},
				},
			},
		}
		_, err := cli.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
	}
	for _, app := range []string{"gateway", "model"} {
		Eventually(ctx, func(g Gomega) {
			d, err := cli.AppsV1().Deployments(ns).Get(ctx, app, metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(d.Status.ReadyReplicas).To(Equal(*d.Spec.Replicas))
		}).WithTimeout(3 * time.Minute).WithPolling(200 * time.Millisecond).Should(Succeed())
	}
}
