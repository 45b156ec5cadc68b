package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	kclient "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/aiuptime/aiuptime/internal/proctest"
	"github.com/aiuptime/aiuptime/kube/local"
)

const (
	modelImage = "aiuptime/modelserver:dev"
	jobModel   = "tiny"
)

// realNode starts a local cluster with a real node and the images, or
// skips naming what is missing (root, `make kube`, containerd, the images).
func realNode(t *testing.T, images ...string) kclient.Interface {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: the real node (kube/local.WithRealNode) needs root")
	}
	bin, err := local.BinDir()
	if err == nil {
		err = local.CheckBinaries(bin)
	}
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	for _, f := range []string{filepath.Join(bin, local.Kubelet), filepath.Join(bin, local.KubeProxy), "/usr/bin/containerd"} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("skipping: the real node needs %v (`make kube`, `make deps`)", err)
		}
	}
	for _, img := range images {
		if err := exec.Command("docker", "image", "inspect", img).Run(); err != nil {
			t.Skipf("skipping: image %s missing (`make images`, `make k6-image`): %v", img, err)
		}
	}
	dir := filepath.Join(t.TempDir(), "cluster")
	c, err := local.Up(t.Context(), local.WithStateDir(dir), local.WithBinDir(bin), local.WithName("k6job"),
		local.WithRealNode(), local.WithImages(images...), local.WithLogger(slog.New(slog.NewTextHandler(t.Output(), nil))))
	t.Cleanup(func() { _ = local.Down(context.Background(), dir) })
	if errors.Is(err, local.ErrNodeBusy) {
		t.Skipf("skipping: %v (another real node runs on this host)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := kclient.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cli
}

// modelService runs one model-server pod behind a Service in ns and
// returns the base URLs of the Service (its ClusterIP: the local cluster
// has no DNS) and of the pod (its IP).
func modelService(t *testing.T, cli kclient.Interface, ns string) (svcURL, podURL string) {
	t.Helper()
	ctx := t.Context()
	models := []corev1.VolumeMount{{Name: "models", MountPath: "/models"}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "model-0", Labels: map[string]string{"app": "model"}},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: new(false),
			Volumes:                      []corev1.Volume{{Name: "models", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			InitContainers: []corev1.Container{{Name: "gen-model", Image: modelImage, ImagePullPolicy: corev1.PullNever,
				Command:      []string{"/aiuptime-modelserver", "gen-model", "--dir", "/models/tiny", "--name", jobModel, "--size", "64KiB"},
				VolumeMounts: models}},
			Containers: []corev1.Container{{Name: "model", Image: modelImage, ImagePullPolicy: corev1.PullNever,
				Args:           []string{"--model-dir", "/models/tiny", "--host", "0.0.0.0", "--port", "8000", "--ttft", "0s", "--itl", "0s"},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/health", Port: intstr.FromInt32(8000)}}, PeriodSeconds: 1},
				VolumeMounts:   models}},
		},
	}
	if _, err := cli.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc, err := cli.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "model"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "model"},
			Ports: []corev1.ServicePort{{Port: 8000, TargetPort: intstr.FromInt32(8000)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var podIP string
	proctest.Poll(t, 3*time.Minute, "model pod Ready", func() error {
		p, err := cli.CoreV1().Pods(ns).Get(ctx, "model-0", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				podIP = p.Status.PodIP
				return nil
			}
		}
		return fmt.Errorf("phase %s", p.Status.Phase)
	})
	return fmt.Sprintf("http://%s:8000/v1", svc.Spec.ClusterIP), fmt.Sprintf("http://%s:8000/v1", podIP)
}

// TestRunJobOnRealNode runs the fixed-iterations script as a 2-runner
// indexed Job on the real node against a model-server pod, and checks the
// merged count against the script's, and that the Job and ConfigMap are
// gone afterwards.
func TestRunJobOnRealNode(t *testing.T) {
	cli := realNode(t, DefaultImage, modelImage)
	ctx := t.Context()
	const ns = "load"
	if _, err := cli.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns, Labels: map[string]string{LabelDrill: LabelDrillEnabled}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The runners reach the model pod by its IP: from a pod on the local
	// node's bridge, a ClusterIP answered no request (every request
	// failed), while the host reaches it (kube/local's own test).
	_, url := modelService(t, cli, ns)
	script, err := os.ReadFile("testdata/fixed.js")
	if err != nil {
		t.Fatal(err)
	}
	const iterations = 40
	l := Load{Name: "seg", Namespace: ns, Script: script, Parallelism: 2, GatewayURL: url, Model: jobModel,
		Env: map[string]string{"ITERATIONS": fmt.Sprint(iterations), "VUS": "4"}}
	start := time.Now()
	m, err := RunJob(ctx, cli, l, WithLogger(slog.New(slog.NewTextHandler(t.Output(), nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("2-runner job took %v; merged %v iterations", time.Since(start).Round(time.Millisecond), m.Summary.Iterations())
	for _, p := range m.Parts {
		up, _ := p.Summary.Availability()
		failed, _ := p.Summary.ErrorRate()
		t.Logf("runner %d pod %s exit %d: %v iterations, availability %v, http_req_failed %v", p.Index, p.Pod, p.ExitCode, p.Summary.Iterations(), up, failed)
		if p.ExitCode != 0 || p.Summary.Iterations() == 0 {
			t.Errorf("runner %d: exit %d, %v iterations", p.Index, p.ExitCode, p.Summary.Iterations())
		}
	}
	if got := m.Summary.Iterations(); got != iterations {
		t.Errorf("merged iterations %v, want %d", got, iterations)
	}
	if up, _ := m.Summary.Availability(); up != 1 {
		t.Errorf("availability %v, want 1", up)
	}
	if _, err := cli.BatchV1().Jobs(ns).Get(ctx, JobName(l.Name), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("job after RunJob: %v, want not found", err)
	}
	if _, err := cli.CoreV1().ConfigMaps(ns).Get(ctx, JobName(l.Name), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("configmap after RunJob: %v, want not found", err)
	}
}
