package kubernetes

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aiuptime/aiuptime/stack"
)

// KwokNodeAnnotation marks a node simulated by kwok (no kubelet, so no
// logs, exec or port-forward).
const KwokNodeAnnotation = "kwok.x-k8s.io/node"

// Logs implements stack.Logger through the pods/log subresource, which the
// API server proxies to the pod's kubelet: the last lines of the pod's
// first container. A pod not scheduled yet, or on a kwok node (no kubelet),
// has none: an error wrapping stack.ErrUnsupported says so.
func (s *Stack) Logs(ctx context.Context, service string, lines int) (string, error) {
	_, pod, err := s.lookup(ctx, service)
	if err != nil {
		return "", err
	}
	ref := pod.Namespace + "/" + pod.Name
	if pod.Spec.NodeName == "" {
		return "", fmt.Errorf("logs of %s (pod %s): not scheduled on a node yet: %w", service, ref, stack.ErrUnsupported)
	}
	node, err := s.cli.CoreV1().Nodes().Get(ctx, pod.Spec.NodeName, metav1.GetOptions{})
	if err == nil && node.Annotations[KwokNodeAnnotation] != "" {
		return "", stack.Unsupported(Kind, fmt.Sprintf("logs of %s (pod %s on simulated node %s: no kubelet; tier 2 has one)", service, ref, node.Name))
	}
	opts := &corev1.PodLogOptions{}
	if len(pod.Spec.Containers) > 0 {
		opts.Container = pod.Spec.Containers[0].Name
	}
	if lines > 0 {
		opts.TailLines = ptr(int64(lines))
	}
	b, err := s.cli.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, opts).DoRaw(ctx)
	if err != nil {
		return "", fmt.Errorf("logs of %s (pod %s on node %s): %w", service, ref, pod.Spec.NodeName, err)
	}
	return strings.TrimRight(string(b), "\n") + "\n", nil
}
