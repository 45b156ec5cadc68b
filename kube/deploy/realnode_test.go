package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go"
	"github.com/openai/openai-go/option"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kclient "k8s.io/client-go/kubernetes"

	"github.com/aiuptime/aiuptime/internal/proctest"
	"github.com/aiuptime/aiuptime/kube/deploy"
	"github.com/aiuptime/aiuptime/kube/local"
	"github.com/aiuptime/aiuptime/rollout"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
	"github.com/aiuptime/aiuptime/stack/stackfile"
)

// skipUnlessRealNode skips unless the host can run kube/local's real node
// with the fixture images: root, the kubelet and kube-proxy of `make
// kube`, Debian's containerd, and both images of `make images`.
func skipUnlessRealNode(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no local cluster")
	}
	if os.Geteuid() != 0 {
		t.Skip("skipping: the real node needs root")
	}
	bin, err := local.BinDir()
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	for _, f := range []string{filepath.Join(bin, local.Kubelet), filepath.Join(bin, local.KubeProxy)} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("skipping: %v (run `make kube`)", err)
		}
	}
	if _, err := os.Stat("/usr/bin/containerd"); err != nil {
		t.Skipf("skipping: %v (Debian's containerd, runc and containernetworking-plugins)", err)
	}
	for _, img := range []string{deploy.DefaultModelImage, deploy.DefaultGatewayImage} {
		if err := exec.Command("docker", "image", "inspect", img).Run(); err != nil {
			t.Skipf("skipping: image %s: %v (run `make images`)", img, err)
		}
	}
}

// TestDeployOnRealNode deploys the stack onto a real kubelet, sends real
// chat completions through the gateway Service's ClusterIP (kube-proxy's
// rules on this host) to both model pods, checks that both replicas give
// the golden answer, rolls one model Deployment under load without a
// failed request, and removes it all.
func TestDeployOnRealNode(t *testing.T) {
	skipUnlessRealNode(t)
	c, cli := upRealNode(t)
	ctx := t.Context()
	res, err := deploy.Deploy(ctx, cli, deploy.WithWait(3*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("deploy on the real node: applied in %v, available: %v", res.Applied.Round(time.Millisecond), res.Ready)
	st, err := stackfile.Open(ctx, shippedStack(t, c.Kubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop(ctx)
	gw := must[stack.Service](t)(st.Service(ctx, "gateway"))
	if gw.URL != res.GatewayURL {
		t.Fatalf("gateway URL %s, want %s", gw.URL, res.GatewayURL)
	}
	// kube-proxy programs the Service's rules within its sync period.
	// Nothing is sent to the ClusterIP before: it would leave the host by
	// the default route (on this network an egress proxy answers 404, and
	// a kept-alive connection to it never reaches the gateway).
	waitRouted(t, gw.URL)
	noKeepAlive := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	proctest.Poll(t, 30*time.Second, "gateway Service "+gw.URL+" ready", func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, gw.URL+"/health/readiness", nil)
		if err != nil {
			return err
		}
		resp, err := noKeepAlive.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	client := openai.NewClient(option.WithBaseURL(gw.URL+"/v1/"), option.WithAPIKey(st.APIKey()),
		option.WithMaxRetries(0), option.WithRequestTimeout(10*time.Second))
	served := map[string]int{}
	start := time.Now()
	const n = 20
	for i := range n {
		var resp *http.Response
		out, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    st.ModelName(),
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(fmt.Sprintf("request %d through the gateway pod", i))},
		}, option.WithResponseInto(&resp))
		if err != nil {
			t.Fatalf("chat completion %d through %s: %v", i, gw.URL, err)
		}
		if len(out.Choices) == 0 || out.Choices[0].Message.Content == "" {
			t.Fatalf("chat completion %d: no content", i)
		}
		served[resp.Header.Get("x-litellm-model-id")]++
	}
	t.Logf("%d chat completions through %s in %v, by model: %v", n, gw.URL, time.Since(start).Round(time.Millisecond), served)
	if served["model-0"] == 0 || served["model-1"] == 0 {
		t.Errorf("not both model pods served: %v", served)
	}
	goldenSame(t, st)
	rollUnderLoad(t, st, client)
	if err := deploy.Remove(ctx, cli, deploy.DefaultNamespace); err != nil {
		t.Fatal(err)
	}
}

// waitRouted waits until kube-proxy routes the Service at rawURL's
// ClusterIP and port.
func waitRouted(t *testing.T, rawURL string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatalf("service URL %s: %v", rawURL, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	start := time.Now()
	if err := local.WaitServiceRouted(ctx, u.Hostname(), port); err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-proxy routes %s after %v", u.Host, time.Since(start).Round(time.Millisecond))
}

func upRealNode(t *testing.T) (*local.Cluster, kclient.Interface) {
	t.Helper()
	bin := must[string](t)(local.BinDir())
	dir := filepath.Join(t.TempDir(), "cluster")
	start := time.Now()
	c, err := local.Up(t.Context(), local.WithStateDir(dir), local.WithBinDir(bin), local.WithName("deploy-realnode"),
		local.WithRealNode(), local.WithImages(deploy.DefaultModelImage, deploy.DefaultGatewayImage))
	t.Cleanup(func() {
		if err := local.Down(context.Background(), dir); err != nil {
			t.Errorf("local cluster down: %v", err)
		}
	})
	if errors.Is(err, local.ErrNodeBusy) {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("local cluster with a real node up in %v", time.Since(start).Round(time.Millisecond))
	return c, must[kclient.Interface](t)(kubernetes.Conn{Kubeconfig: c.Kubeconfig}.Client())
}

// goldenSame asks each model pod the golden prompt directly: the replicas
// serve byte-identical weights, so they answer alike.
func goldenSame(t *testing.T, st stack.Stack) {
	svcs := must[[]stack.Service](t)(st.Services(t.Context()))
	var answers []string
	for _, s := range svcs {
		if s.Role != stack.RoleModel {
			continue
		}
		a, err := rollout.Golden(t.Context(), s, "", rollout.DefaultGoldenPrompt)
		if err != nil {
			t.Fatal(err)
		}
		answers = append(answers, a)
	}
	if len(answers) != 2 || answers[0] != answers[1] {
		t.Errorf("golden answers of the model pods differ: %q", answers)
	}
}

// rollUnderLoad replaces the pod of aiuptime-model-0 (a pod-template
// change: a rolling update with maxSurge 1, maxUnavailable 0) while
// requests flow through the gateway, and wants none of them to fail.
func rollUnderLoad(t *testing.T, st stack.Stack, client openai.Client) {
	ks, ok := st.(*kubernetes.Stack)
	if !ok {
		t.Fatalf("stack is a %T", st)
	}
	ctx := t.Context()
	stop := make(chan struct{})
	var (
		wg            sync.WaitGroup
		mu            sync.Mutex
		total, failed int
		failures      []string
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: ks.ModelName(),
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("during the rolling update")}})
			mu.Lock()
			total++
			if err != nil {
				failed++
				failures = append(failures, err.Error())
			}
			mu.Unlock()
		}
	}()
	d := must[*appsv1.Deployment](t)(ks.Client().AppsV1().Deployments(deploy.DefaultNamespace).Get(ctx, deploy.ModelDeployment(0), metav1.GetOptions{}))
	res, err := ks.RollDeployment(ctx, stack.RoleModel, kubernetes.RolloutChange{Image: d.Spec.Template.Spec.Containers[0].Image, Run: "deploy-test"},
		kubernetes.RolloutDeployment(deploy.ModelDeployment(0)), kubernetes.RolloutTimeout(2*time.Minute))
	// Keep the load on until the old pod is gone, not just unready.
	waitPodsGone(t, ks, res)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rolling update of %s: %v; %d requests through the gateway meanwhile, %d failed", deploy.ModelDeployment(0),
		res.Duration.Round(time.Millisecond), total, failed)
	if failed > 0 {
		t.Errorf("%d of %d requests failed during the rolling update: %v", failed, total, failures[:min(len(failures), 5)])
	}
	if total == 0 {
		t.Error("no request during the rolling update")
	}
}

func waitPodsGone(t *testing.T, ks *kubernetes.Stack, res *kubernetes.RolloutResult) {
	if res == nil {
		return
	}
	var old []string
	for _, p := range res.OldPods {
		old = append(old, p.Name)
	}
	proctest.Poll(t, time.Minute, "old pods "+strings.Join(old, ", ")+" gone", func() error {
		pods, err := ks.Client().CoreV1().Pods(deploy.DefaultNamespace).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		if slices.ContainsFunc(pods.Items, func(p corev1.Pod) bool { return slices.Contains(old, p.Name) }) {
			return errors.New("still there")
		}
		return nil
	})
}
