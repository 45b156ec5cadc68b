package deploy_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kclient "k8s.io/client-go/kubernetes"

	"github.com/aiuptime/aiuptime/kube/deploy"
	"github.com/aiuptime/aiuptime/kube/local"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
	"github.com/aiuptime/aiuptime/stack/stackfile"
)

// up starts a tier-1 local cluster (control plane + kwok) in a temp state
// dir for one test, or skips when the binaries are not built.
func up(t *testing.T, opts ...local.Option) (*local.Cluster, kclient.Interface) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no local cluster")
	}
	bin, err := local.BinDir()
	if err == nil {
		err = local.CheckBinaries(bin)
	}
	if err != nil {
		t.Skipf("skipping: no local cluster (build it with `make kube`): %v", err)
	}
	dir := filepath.Join(t.TempDir(), "cluster")
	start := time.Now()
	c, err := local.Up(t.Context(), append([]local.Option{local.WithStateDir(dir), local.WithBinDir(bin), local.WithName("deploy-test")}, opts...)...)
	t.Cleanup(func() {
		if err := local.Down(context.Background(), dir); err != nil {
			t.Errorf("local cluster down: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("local cluster up in %v", time.Since(start).Round(time.Millisecond))
	cli, err := kubernetes.Conn{Kubeconfig: c.Kubeconfig}.Client()
	if err != nil {
		t.Fatal(err)
	}
	return c, cli
}

// syncBuffer is a log sink the test reads after the fact.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func kwokNode(t *testing.T, cli kclient.Interface, name string) {
	t.Helper()
	k, v, _ := strings.Cut(local.FakeNodeAnnotation, "=")
	_, err := cli.CoreV1().Nodes().Create(t.Context(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name: name, Annotations: map[string]string{k: v}, Labels: map[string]string{"type": "kwok"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// shippedStack writes stacks/kubernetes-local.yaml with its kubeconfig
// pointed at kubeconfig into a temp dir and returns the path.
func shippedStack(t *testing.T, kubeconfig string) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "stacks", "kubernetes-local.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^(\s+kubeconfig:).*$`)
	if !re.Match(b) {
		t.Fatal("stacks/kubernetes-local.yaml has no kubeconfig key")
	}
	path := filepath.Join(t.TempDir(), "kubernetes-local.yaml")
	b = re.ReplaceAll(b, []byte("${1} "+kubeconfig))
	// On the kwok tier no node runs on this host: the shipped file's
	// on_node (for the real node) cannot hold.
	b = regexp.MustCompile(`(?m)^(\s+on_node:).*$`).ReplaceAll(b, []byte("${1} false"))
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// TestDeployOnKwok deploys the stack onto kwok's simulated nodes, checks
// what the API server holds, opens it with the shipped stack file, deploys
// again (nothing changes), refuses to overwrite what is not ours, and
// removes it without a trace.
func TestDeployOnKwok(t *testing.T) {
	c, cli := up(t)
	ctx := t.Context()
	kwokNode(t, cli, "kwok-deploy-0")
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := []deploy.Option{deploy.WithNodeSelector(map[string]string{"type": "kwok"}), deploy.WithWait(2 * time.Minute), deploy.WithLogger(log)}

	res, err := deploy.Deploy(ctx, cli, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("deploy: %d objects applied in %v; available: %v; total %v", len(res.Objects), res.Applied.Round(time.Millisecond),
		res.Ready, res.Duration.Round(time.Millisecond))
	if len(res.Ready) != 3 || len(res.ModelURLs) != 2 || !strings.HasPrefix(res.GatewayURL, "http://") || !strings.HasSuffix(res.GatewayURL, ":4000") {
		t.Errorf("result: gateway %q, models %v, ready %v", res.GatewayURL, res.ModelURLs, res.Ready)
	}
	for _, o := range res.Objects {
		if o.Action != deploy.Created {
			t.Errorf("first deploy: %s %s %s, want created", o.Kind, o.Name, o.Action)
		}
	}
	ns := must[*corev1.Namespace](t)(cli.CoreV1().Namespaces().Get(ctx, deploy.DefaultNamespace, metav1.GetOptions{}))
	if ns.Labels[kubernetes.LabelDrill] != kubernetes.LabelDrillEnabled || ns.Labels[deploy.LabelManagedBy] != deploy.ManagedBy {
		t.Errorf("namespace labels %v", ns.Labels)
	}
	sec := must[*corev1.Secret](t)(cli.CoreV1().Secrets(deploy.DefaultNamespace).Get(ctx, deploy.GatewayName, metav1.GetOptions{}))
	key := string(sec.Data[deploy.SecretKey])
	if len(key) < 16 {
		t.Fatalf("master key of %d bytes", len(key))
	}
	cm := must[*corev1.ConfigMap](t)(cli.CoreV1().ConfigMaps(deploy.DefaultNamespace).Get(ctx, deploy.GatewayName, metav1.GetOptions{}))
	cfg := cm.Data["gateway.yaml"]
	for _, u := range res.ModelURLs {
		if !strings.Contains(cfg, "api_base: "+u+"/v1") {
			t.Errorf("gateway config lacks %s/v1:\n%s", u, cfg)
		}
	}
	if strings.Contains(cfg, key) || strings.Contains(logs.String(), key) {
		t.Error("the master key is in the gateway ConfigMap or the logs")
	}
	checkDeployments(t, cli)

	t.Run("stack file opens it", func(t *testing.T) { openShipped(t, c.Kubeconfig, res, key) })
	t.Run("deploy again changes nothing", func(t *testing.T) { deployAgain(t, cli, opts, res, key) })
	t.Run("refuses what is not ours", func(t *testing.T) { refuseForeign(t, cli) })

	start := time.Now()
	if err := deploy.Remove(ctx, cli, deploy.DefaultNamespace); err != nil {
		t.Fatal(err)
	}
	t.Logf("remove: everything gone after %v", time.Since(start).Round(time.Millisecond))
	if _, err := cli.CoreV1().Namespaces().Get(ctx, deploy.DefaultNamespace, metav1.GetOptions{}); err == nil {
		t.Error("namespace still there after Remove")
	}
	all := metav1.ListOptions{LabelSelector: deploy.LabelManagedBy + "=" + deploy.ManagedBy}
	if pods := must[*corev1.PodList](t)(cli.CoreV1().Pods("").List(ctx, all)); len(pods.Items) > 0 {
		t.Errorf("%d pods left", len(pods.Items))
	}
	if deps := must[*appsv1.DeploymentList](t)(cli.AppsV1().Deployments("").List(ctx, all)); len(deps.Items) > 0 {
		t.Errorf("%d deployments left", len(deps.Items))
	}
	if err := deploy.Remove(ctx, cli, deploy.DefaultNamespace); err != nil {
		t.Errorf("second Remove: %v", err)
	}
}

// checkDeployments checks the Deployments as the API server stored them.
func checkDeployments(t *testing.T, cli kclient.Interface) {
	for _, tc := range []struct {
		name, app, image, health string
		port                     int32
	}{
		{deploy.ModelDeployment(0), deploy.ModelApp, deploy.DefaultModelImage, "/health", deploy.ModelPort},
		{deploy.ModelDeployment(1), deploy.ModelApp, deploy.DefaultModelImage, "/health", deploy.ModelPort},
		{deploy.GatewayName, deploy.GatewayApp, deploy.DefaultGatewayImage, "/health/readiness", deploy.GatewayPort},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := must[*appsv1.Deployment](t)(cli.AppsV1().Deployments(deploy.DefaultNamespace).Get(t.Context(), tc.name, metav1.GetOptions{}))
			c := d.Spec.Template.Spec.Containers[0]
			if d.Spec.Template.Labels[deploy.LabelName] != tc.app || d.Labels[deploy.LabelManagedBy] != deploy.ManagedBy {
				t.Errorf("labels: template %v, deployment %v", d.Spec.Template.Labels, d.Labels)
			}
			if c.Image != tc.image || c.ImagePullPolicy != corev1.PullNever {
				t.Errorf("image %s pull %s", c.Image, c.ImagePullPolicy)
			}
			if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != tc.health || p.HTTPGet.Port.IntVal != tc.port || p.PeriodSeconds != 1 {
				t.Errorf("readiness probe %+v", p)
			}
			if l := c.Lifecycle; l == nil || l.PreStop == nil || l.PreStop.Sleep == nil || l.PreStop.Sleep.Seconds != deploy.PreStopSleep {
				t.Errorf("preStop %+v", l)
			}
			if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g <= deploy.PreStopSleep {
				t.Errorf("grace %v", g)
			}
			if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxSurge.IntValue() != 1 || ru.MaxUnavailable.IntValue() != 0 {
				t.Errorf("strategy %+v", d.Spec.Strategy)
			}
		})
	}
}

// refuseForeign: an object of Deploy's name that is not ours stops Deploy
// and survives Remove, as does a namespace Deploy did not create.
func refuseForeign(t *testing.T, cli kclient.Interface) {
	ctx := t.Context()
	const ns = "deploy-foreign"
	must[*corev1.Namespace](t)(cli.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}))
	foreign := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: deploy.ModelConfigMap, Namespace: ns}, Data: map[string]string{"mine": "yes"}}
	must[*corev1.ConfigMap](t)(cli.CoreV1().ConfigMaps(ns).Create(ctx, foreign, metav1.CreateOptions{}))
	_, err := deploy.Deploy(ctx, cli, deploy.WithNamespace(ns))
	if !errors.Is(err, deploy.ErrNotOurs) {
		t.Fatalf("deploy over a foreign ConfigMap: %v, want ErrNotOurs", err)
	}
	t.Logf("refused: %v", err)
	if err := deploy.Remove(ctx, cli, ns); err != nil {
		t.Fatal(err)
	}
	cm := must[*corev1.ConfigMap](t)(cli.CoreV1().ConfigMaps(ns).Get(ctx, deploy.ModelConfigMap, metav1.GetOptions{}))
	if cm.Data["mine"] != "yes" {
		t.Errorf("foreign ConfigMap changed: %v", cm.Data)
	}
	if _, err := cli.CoreV1().Secrets(ns).Get(ctx, deploy.GatewayName, metav1.GetOptions{}); err == nil {
		t.Error("the Secret Deploy made before it was refused survived Remove")
	}
	n := must[*corev1.Namespace](t)(cli.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}))
	if n.DeletionTimestamp != nil {
		t.Error("Remove deletes a namespace Deploy did not create")
	}
}

// openShipped opens the deployed stack with stacks/kubernetes-local.yaml:
// three services in their roles, the gateway at its Service's address,
// the key from the Secret.
func openShipped(t *testing.T, kubeconfig string, res *deploy.Result, key string) {
	ctx := t.Context()
	st, err := stackfile.Open(ctx, shippedStack(t, kubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop(ctx)
	svcs := must[[]stack.Service](t)(st.Services(ctx))
	var got []string
	for _, s := range svcs {
		got = append(got, s.Name+"="+string(s.Role))
		if s.Role == stack.RoleGateway && s.URL != res.GatewayURL {
			t.Errorf("gateway URL %s, want the Service's %s", s.URL, res.GatewayURL)
		}
	}
	slices.Sort(got)
	if want := []string{"gateway=gateway", "model-0=model", "model-1=model"}; !slices.Equal(got, want) {
		t.Errorf("services %v, want %v", got, want)
	}
	if st.APIKey() != key || st.ModelName() != deploy.DefaultModelName {
		t.Errorf("api key from the Secret: %t; model name %q", st.APIKey() == key, st.ModelName())
	}
}

// deployAgain: a second Deploy changes nothing and keeps key and addresses.
func deployAgain(t *testing.T, cli kclient.Interface, opts []deploy.Option, res *deploy.Result, key string) {
	ctx := t.Context()
	again := must[*deploy.Result](t)(deploy.Deploy(ctx, cli, opts...))
	for _, o := range again.Objects {
		if o.Action != deploy.Unchanged {
			t.Errorf("second deploy: %s %s %s, want unchanged", o.Kind, o.Name, o.Action)
		}
	}
	sec := must[*corev1.Secret](t)(cli.CoreV1().Secrets(deploy.DefaultNamespace).Get(ctx, deploy.GatewayName, metav1.GetOptions{}))
	if string(sec.Data[deploy.SecretKey]) != key || again.GatewayURL != res.GatewayURL || !slices.Equal(again.ModelURLs, res.ModelURLs) {
		t.Errorf("second deploy changed the key (%t) or the addresses: %s %v", string(sec.Data[deploy.SecretKey]) != key, again.GatewayURL, again.ModelURLs)
	}
	t.Logf("second deploy: %v", again.Duration.Round(time.Millisecond))
}
