// Package deploy puts the project's own inference stack on a Kubernetes
// cluster, so that drills with a kubernetes stack file have something real
// to drill: a gateway and two model servers, each a one-replica Deployment
// behind a ClusterIP Service, in a namespace that opts in to drills.
//
//	res, err := deploy.Deploy(ctx, cli, deploy.WithNamespace("aiuptime"), deploy.WithWait(3*time.Minute))
//	// res.GatewayURL is http://<gateway Service ClusterIP>:4000
//	err = deploy.Remove(ctx, cli, "aiuptime")
//
// What Deploy writes, creating or updating (it is idempotent: a second
// Deploy changes nothing and keeps the master key):
//   - the Namespace, labelled aiuptime.io/drill=enabled (the kubernetes
//     provider's opt-in);
//   - Secret aiuptime-gateway holding the gateway's master key (given with
//     WithAPIKey, kept from an earlier Deploy, or random); the gateway pod
//     reads it from its environment, the stack file from the Secret
//     (api_key_secret). The key is never logged or returned;
//   - ConfigMap aiuptime-model: a generated model (config.json, one
//     weight shard, manifest.json) whose bytes depend only on its name,
//     version and size, mounted read-only at /models in every model pod;
//   - Deployments aiuptime-model-0 and aiuptime-model-1 and their
//     Services (port 8000);
//   - ConfigMap aiuptime-gateway with the gateway's config, whose model
//     list points at the model Services' ClusterIPs (the cluster may have
//     no DNS: the Services are made first and their addresses read back);
//     Deployment and Service aiuptime-gateway (port 4000).
//
// Every object carries app.kubernetes.io/managed-by=aiuptime; Deploy
// refuses to overwrite an object without it (ErrNotOurs) and Remove
// deletes only objects with it. Pods use imagePullPolicy Never (the images
// are built locally), a readiness probe on the server's health path every
// second, a preStop sleep (the images have no shell) and a grace period
// that covers the sleep and the drain, and their Deployments roll with
// maxSurge 1, maxUnavailable 0: a rolling update drops no request.
//
// The gateway pod reaches the model servers at their Services' ClusterIPs,
// so the node's pod network must route the service range (a default route
// through the bridge) and a Service proxy (kube-proxy) must run there; the
// host reaches GatewayURL through the same proxy's rules.
package deploy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kclient "k8s.io/client-go/kubernetes"

	"github.com/aiuptime/aiuptime/internal/gwconfig"
)

// Result is what Deploy did.
type Result struct {
	Namespace string `json:"namespace"`
	// GatewayURL is the gateway Service's address, http://<ClusterIP>:4000.
	// It is reachable where kube-proxy (or another Service proxy) runs:
	// from pods, and from a node.
	GatewayURL string `json:"gateway_url"`
	// ModelURLs are the model Services' addresses, by slot.
	ModelURLs []string `json:"model_urls"`
	// ModelDigest is the model's digest as the servers report it.
	ModelDigest string   `json:"model_digest"`
	Objects     []Object `json:"objects"`
	// Started is when Deploy began; Applied how long writing every object
	// took; Ready the Deployments' availability times (with WithWait).
	Started time.Time         `json:"started"`
	Applied time.Duration     `json:"applied"`
	Ready   []DeploymentReady `json:"ready,omitempty"`
	// Duration is Deploy's whole run.
	Duration time.Duration `json:"duration"`
}

// DeploymentReady is when a Deployment became available with all its
// replicas updated, after Deploy started.
type DeploymentReady struct {
	Name  string        `json:"name"`
	After time.Duration `json:"after"`
}

// Deploy creates or updates the stack (see the package doc) in the
// namespace of WithNamespace. Like a testcontainers constructor it returns
// what it did so far with an error: Remove cleans it up.
func Deploy(ctx context.Context, cli kclient.Interface, opts ...Option) (*Result, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	res := &Result{Namespace: o.namespace, Started: time.Now()}
	d := &deployer{o: o, cli: cli, res: res}
	if err := d.apply(ctx); err != nil {
		res.Duration = time.Since(res.Started)
		return res, fmt.Errorf("deploy to namespace %s: %w", o.namespace, err)
	}
	res.Applied = time.Since(res.Started)
	o.log.Info("stack applied", "namespace", o.namespace, "objects", len(res.Objects), "gateway", res.GatewayURL,
		"took", res.Applied.Round(time.Millisecond))
	if o.wait > 0 {
		if err := d.waitAvailable(ctx); err != nil {
			res.Duration = time.Since(res.Started)
			return res, fmt.Errorf("deploy to namespace %s: %w", o.namespace, err)
		}
	}
	res.Duration = time.Since(res.Started)
	return res, nil
}

type deployer struct {
	o   *options
	cli kclient.Interface
	res *Result
}

func (d *deployer) record(obj Object) {
	d.res.Objects = append(d.res.Objects, obj)
	d.o.log.Debug("applied", "kind", obj.Kind, "name", obj.Name, "action", obj.Action)
}

// apply writes every object in dependency order.
func (d *deployer) apply(ctx context.Context) error {
	o, ns := d.o, d.o.namespace
	obj, err := ensureNamespace(ctx, d.cli, ns)
	if obj.Action != "" {
		d.record(obj)
	}
	if err != nil {
		return err
	}
	secretRev, err := d.secret(ctx)
	if err != nil {
		return err
	}
	files, digest, err := modelFiles(o.modelName, o.modelVersion, o.modelSize)
	if err != nil {
		return err
	}
	d.res.ModelDigest = digest
	cms := d.cli.CoreV1().ConfigMaps(ns)
	if _, obj, err = apply(ctx, cms, "ConfigMap", modelConfigMap(ns, files), nil); err != nil {
		return err
	}
	d.record(obj)
	var ups []gwconfig.Upstream
	for i := range ModelReplicas {
		if err := writeModelDir(o, i, files); err != nil {
			return err
		}
		if _, obj, err = apply(ctx, d.cli.AppsV1().Deployments(ns), "Deployment", modelDeployment(o, i, digest), nil); err != nil {
			return err
		}
		d.record(obj)
		url, err := d.service(ctx, ModelDeployment(i), modelLabels(i), ModelPort)
		if err != nil {
			return err
		}
		d.res.ModelURLs = append(d.res.ModelURLs, url)
		ups = append(ups, gwconfig.Upstream{ID: fmt.Sprintf("model-%d", i), APIBase: url + "/v1"})
	}
	cfg, err := renderGatewayConfig(o.modelName, ups)
	if err != nil {
		return err
	}
	if _, obj, err = apply(ctx, cms, "ConfigMap", gatewayConfigMap(ns, cfg), nil); err != nil {
		return err
	}
	d.record(obj)
	sum := sha256.Sum256(cfg)
	gw := gatewayDeployment(o, hex.EncodeToString(sum[:]), secretRev)
	if _, obj, err = apply(ctx, d.cli.AppsV1().Deployments(ns), "Deployment", gw, nil); err != nil {
		return err
	}
	d.record(obj)
	d.res.GatewayURL, err = d.service(ctx, GatewayName, gatewayLabels(), GatewayPort)
	return err
}

// service applies a ClusterIP Service and returns its URL.
func (d *deployer) service(ctx context.Context, name string, sel map[string]string, port int32) (string, error) {
	svc, obj, err := apply(ctx, d.cli.CoreV1().Services(d.o.namespace), "Service", service(d.o.namespace, name, sel, port), keepService)
	if err != nil {
		return "", err
	}
	d.record(obj)
	ip := svc.Spec.ClusterIP
	if ip == "" || ip == corev1.ClusterIPNone {
		return "", fmt.Errorf("service %s/%s: no cluster IP", d.o.namespace, name)
	}
	return "http://" + net.JoinHostPort(ip, strconv.Itoa(int(port))), nil
}

// secret applies the gateway's Secret, keeping the key of an existing one
// unless WithAPIKey gives another, and returns its resource version.
func (d *deployer) secret(ctx context.Context) (string, error) {
	key := d.o.apiKey
	if key == "" {
		have, err := d.cli.CoreV1().Secrets(d.o.namespace).Get(ctx, GatewayName, metav1.GetOptions{})
		switch {
		case err == nil && have.Labels[LabelManagedBy] == ManagedBy && len(have.Data[SecretKey]) > 0:
			key = string(have.Data[SecretKey])
		case err != nil && !apierrors.IsNotFound(err):
			return "", fmt.Errorf("secret %s/%s: %w", d.o.namespace, GatewayName, err)
		default:
			key = newKey()
		}
	}
	sec, obj, err := apply(ctx, d.cli.CoreV1().Secrets(d.o.namespace), "Secret", gatewaySecret(d.o.namespace, key), nil)
	if err != nil {
		return "", err
	}
	d.record(obj)
	return sec.ResourceVersion, nil
}

// newKey is a random master key in LiteLLM's style.
func newKey() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return "sk-" + hex.EncodeToString(b)
}
