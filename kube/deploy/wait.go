package deploy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	kclient "k8s.io/client-go/kubernetes"
)

// pollInterval is how often waits re-read the API server.
const pollInterval = 200 * time.Millisecond

// deploymentNames are the Deployments Deploy makes.
func deploymentNames() []string {
	names := []string{}
	for i := range ModelReplicas {
		names = append(names, ModelDeployment(i))
	}
	return append(names, GatewayName)
}

// available reports whether d's rollout is complete and its replicas
// available, as `kubectl rollout status` decides: the controller saw the
// latest spec, every replica is updated and available, no old one is left.
func available(d *appsv1.Deployment) (bool, string) {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	switch {
	case s.ObservedGeneration < d.Generation:
		return false, "spec not yet observed"
	case s.UpdatedReplicas < want:
		return false, fmt.Sprintf("%d of %d replicas updated", s.UpdatedReplicas, want)
	case s.Replicas > s.UpdatedReplicas:
		return false, fmt.Sprintf("%d old replicas pending termination", s.Replicas-s.UpdatedReplicas)
	case s.AvailableReplicas < s.UpdatedReplicas:
		return false, fmt.Sprintf("%d of %d updated replicas available", s.AvailableReplicas, s.UpdatedReplicas)
	}
	return true, ""
}

// waitAvailable polls the Deployments until each is available, recording
// when each became so, for at most the WithWait timeout.
func (d *deployer) waitAvailable(ctx context.Context) error {
	pending := map[string]string{}
	for _, n := range deploymentNames() {
		pending[n] = "not read yet"
	}
	deps := d.cli.AppsV1().Deployments(d.o.namespace)
	err := wait.PollUntilContextTimeout(ctx, pollInterval, d.o.wait, true, func(ctx context.Context) (bool, error) {
		for _, n := range deploymentNames() {
			if _, ok := pending[n]; !ok {
				continue
			}
			dep, err := deps.Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return false, fmt.Errorf("deployment %s/%s: %w", d.o.namespace, n, err)
			}
			ok, why := available(dep)
			if !ok {
				pending[n] = why
				continue
			}
			delete(pending, n)
			r := DeploymentReady{Name: n, After: time.Since(d.res.Started)}
			d.res.Ready = append(d.res.Ready, r)
			d.o.log.Info("deployment available", "deployment", n, "after", r.After.Round(time.Millisecond))
		}
		return len(pending) == 0, nil
	})
	if err != nil {
		var why []string
		for n, w := range pending {
			why = append(why, n+": "+w)
		}
		slices.Sort(why)
		if trouble := podTrouble(context.WithoutCancel(ctx), d.cli, d.o.namespace); trouble != "" {
			why = append(why, "pods: "+trouble)
		}
		return fmt.Errorf("wait for the deployments to be available (%s): %w", strings.Join(why, "; "), err)
	}
	return d.waitEndpoints(ctx)
}

// waitEndpoints waits until every Service has a ready endpoint in its
// EndpointSlices: what kube-proxy programs (it follows within its sync
// period, typically well under a second).
func (d *deployer) waitEndpoints(ctx context.Context) error {
	eps := d.cli.DiscoveryV1().EndpointSlices(d.o.namespace)
	left := ""
	err := wait.PollUntilContextTimeout(ctx, pollInterval, d.o.wait, true, func(ctx context.Context) (bool, error) {
		for _, n := range deploymentNames() {
			l, err := eps.List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + n})
			if err != nil {
				return false, fmt.Errorf("endpoints of service %s/%s: %w", d.o.namespace, n, err)
			}
			if !anyReady(l.Items) {
				left = n
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("wait for a ready endpoint of service %s/%s: %w", d.o.namespace, left, err)
	}
	return nil
}

func anyReady(items []discoveryv1.EndpointSlice) bool {
	for _, s := range items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && *e.Conditions.Ready {
				return true
			}
		}
	}
	return false
}

// podTrouble says why our pods are not ready: unschedulable (no node),
// a waiting container's reason (ErrImageNeverPull: the image is not on the
// node; CrashLoopBackOff), or "" when it cannot tell.
func podTrouble(ctx context.Context, cli kclient.Interface, ns string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	pods, err := cli.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: ourSelector})
	if err != nil {
		return ""
	}
	var out []string
	for _, p := range pods.Items {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status != corev1.ConditionTrue {
				out = append(out, fmt.Sprintf("%s not scheduled: %s", p.Name, c.Message))
			}
		}
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "ContainerCreating" {
				out = append(out, fmt.Sprintf("%s: %s: %s", p.Name, w.Reason, w.Message))
			}
		}
	}
	return strings.Join(out, "; ")
}
