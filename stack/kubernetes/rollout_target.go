package kubernetes

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aiuptime/aiuptime/stack"
)

// DeploymentOf implements stack.DeploymentRoller: the Deployment whose
// ReplicaSet controls the service's pod (pod -> ReplicaSet -> Deployment,
// by controller references), proved to be the service's role's
// (OwnsDeployment). A pod no Deployment controls is an error wrapping
// stack.ErrNotFound: there is nothing to roll.
func (s *Stack) DeploymentOf(ctx context.Context, service string) (string, error) {
	svc, pod, err := s.lookup(ctx, service)
	if err != nil {
		return "", err
	}
	ref := metav1.GetControllerOf(&pod)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return "", fmt.Errorf("service %s (pod %s): no ReplicaSet controls it: %w", service, pod.Name, stack.ErrNotFound)
	}
	rs, err := s.cli.AppsV1().ReplicaSets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("service %s: replicaset %s/%s: %w", service, pod.Namespace, ref.Name, err)
	}
	if rs.UID != ref.UID {
		return "", fmt.Errorf("service %s: replicaset %s/%s was replaced: %w", service, pod.Namespace, ref.Name, stack.ErrNotFound)
	}
	dref := metav1.GetControllerOf(rs)
	if dref == nil || dref.Kind != "Deployment" {
		return "", fmt.Errorf("service %s: replicaset %s/%s: no Deployment controls it: %w", service, pod.Namespace, rs.Name, stack.ErrNotFound)
	}
	if err := s.OwnsDeployment(ctx, pod.Namespace, dref.Name, svc.Role); err != nil {
		return "", fmt.Errorf("service %s: %w", service, err)
	}
	return dref.Name, nil
}
