package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/aiuptime/aiuptime/stack"
)

var _ stack.Scaler = (*Stack)(nil)

// deploymentOfService returns the Deployment that owns the service's pod,
// the pod's ownership re-proved first; a pod no Deployment owns is
// refused (nothing would scale it back).
func (s *Stack) deploymentOfService(ctx context.Context, service string) (*appsv1.Deployment, replicasState, error) {
	svc, pod, err := s.lookup(ctx, service)
	if err != nil {
		return nil, replicasState{}, err
	}
	if err := s.OwnsPod(ctx, pod.Namespace, pod.Name, svc.Role); err != nil {
		return nil, replicasState{}, fmt.Errorf("scale %s: %w", service, err)
	}
	d, err := deploymentOf(ctx, s.cli, pod)
	if err != nil {
		return nil, replicasState{}, fmt.Errorf("scale %s: %w", service, err)
	}
	if d == nil {
		return nil, replicasState{}, stack.Unsupported(Kind, fmt.Sprintf("scale %s: pod %s/%s is owned by no Deployment", service, pod.Namespace, pod.Name))
	}
	st := replicasState{Conn: s.o.conn, Namespace: pod.Namespace, Pod: pod.Name, PodUID: pod.UID, Role: svc.Role,
		Select: s.o.roles[svc.Role], Deployment: d.Name, Replicas: replicas(d), Scale: true}
	return d, st, nil
}

// Workload implements stack.Scaler: the Deployment of the service's pod.
func (s *Stack) Workload(ctx context.Context, service string) (string, error) {
	d, _, err := s.deploymentOfService(ctx, service)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("deployment %s/%s (%d replicas)", d.Namespace, d.Name, replicas(d)), nil
}

// ScaleUndoOf implements stack.Scaler: the lifecycle's own undo
// (UndoReplicas) scales the Deployment back up to the replicas it has now
// and waits until they are ready.
func (s *Stack) ScaleUndoOf(ctx context.Context, service string) (stack.Undo, error) {
	_, st, err := s.deploymentOfService(ctx, service)
	if err != nil {
		return stack.Undo{}, err
	}
	b, err := json.Marshal(st)
	return stack.Undo{Func: UndoReplicas, State: b}, err
}

// Scale implements stack.Scaler: spec.replicas of the Deployment that owns
// the service's pod (every replica of it, not only this service's).
func (s *Stack) Scale(ctx context.Context, service string, n int32) error {
	if n < 0 {
		return fmt.Errorf("scale %s to %d replicas: negative", service, n)
	}
	d, _, err := s.deploymentOfService(ctx, service)
	if err != nil {
		return err
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := s.cli.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Spec.Replicas = ptr(n)
		_, err = s.cli.AppsV1().Deployments(d.Namespace).Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("scale deployment %s/%s to %d: %w", d.Namespace, d.Name, n, err)
	}
	s.log.Info("deployment scaled", "deployment", d.Namespace+"/"+d.Name, "from", replicas(d), "to", n, "service", service)
	return nil
}
