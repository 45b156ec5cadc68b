package kubernetes

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/aiuptime/aiuptime/stack"
)

// Owns implements stack.Owner: the service's pod, re-read now, is in the
// stack's namespace, which still opts in, and matches its role's selector.
func (s *Stack) Owns(ctx context.Context, service string) error {
	svc, pod, err := s.lookup(ctx, service)
	if err != nil {
		return fmt.Errorf("%s: %w: %w", service, stack.ErrNotOwned, err)
	}
	return s.OwnsPod(ctx, pod.Namespace, pod.Name, svc.Role)
}

// OwnsPod returns nil when the pod namespace/name, re-read now, is in the
// stack's namespace (which still carries the opt-in label) and matches the
// selector of role; else an error wrapping stack.ErrNotOwned.
func (s *Stack) OwnsPod(ctx context.Context, namespace, name string, role stack.Role) error {
	ref := namespace + "/" + name
	if namespace != s.o.namespace {
		return fmt.Errorf("pod %s: in namespace %s, not the stack's %s: %w", ref, namespace, s.o.namespace, stack.ErrNotOwned)
	}
	if _, ok := s.o.roles[role]; !ok {
		return fmt.Errorf("pod %s: the stack has no role %s: %w", ref, role, stack.ErrNotOwned)
	}
	if err := s.checkNamespace(ctx); err != nil {
		return fmt.Errorf("pod %s: %w: %w", ref, stack.ErrNotOwned, err)
	}
	p, err := s.cli.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("pod %s: %w: %w", ref, stack.ErrNotOwned, err)
	}
	sel, err := s.selector(ctx, role)
	if err != nil {
		return fmt.Errorf("pod %s: %w: %w", ref, stack.ErrNotOwned, err)
	}
	if !sel.Matches(labels.Set(p.Labels)) {
		return fmt.Errorf("pod %s: labels %s do not match role %s's selector %s: %w",
			ref, labels.Set(p.Labels), role, sel, stack.ErrNotOwned)
	}
	return nil
}

// isNotFound reports whether err is the API server's 404.
func isNotFound(err error) bool { return apierrors.IsNotFound(err) }
