package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	kclient "k8s.io/client-go/kubernetes"
)

// DefaultRemoveTimeout bounds Remove when ctx has no deadline: the pods'
// grace periods (a preStop sleep plus a drain) fit well inside it.
const DefaultRemoveTimeout = 2 * time.Minute

// ourSelector selects what Deploy made.
var ourSelector = LabelManagedBy + "=" + ManagedBy

// Remove deletes what Deploy made in namespace: the Deployments, Services,
// ConfigMaps and Secrets labelled LabelManagedBy=ManagedBy (nothing else),
// waits until their ReplicaSets and pods are gone, and then deletes the
// namespace if Deploy created it (it carries the label too), waiting until
// it is gone. A namespace that is already gone is success.
func Remove(ctx context.Context, cli kclient.Interface, namespace string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultRemoveTimeout)
		defer cancel()
	}
	ns, err := cli.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove from namespace %s: %w", namespace, err)
	}
	list := metav1.ListOptions{LabelSelector: ourSelector}
	bg := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{PropagationPolicy: &bg}
	apps, core := cli.AppsV1(), cli.CoreV1()
	errs := []error{
		deleteAll(ctx, "Deployment", namespace, apps.Deployments(namespace).DeleteCollection, del, list),
		deleteAll(ctx, "Service", namespace, deleteServices(cli, namespace), del, list),
		deleteAll(ctx, "ConfigMap", namespace, core.ConfigMaps(namespace).DeleteCollection, del, list),
		deleteAll(ctx, "Secret", namespace, core.Secrets(namespace).DeleteCollection, del, list),
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := waitGone(ctx, cli, namespace); err != nil {
		return err
	}
	if ns.Labels[LabelManagedBy] != ManagedBy {
		return nil
	}
	if err := core.Namespaces().Delete(ctx, namespace, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove namespace %s: %w", namespace, err)
	}
	err = wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		_, err := core.Namespaces().Get(ctx, namespace, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		return fmt.Errorf("remove namespace %s: wait until it is gone: %w", namespace, err)
	}
	return nil
}

type deleteCollection func(ctx context.Context, opts metav1.DeleteOptions, list metav1.ListOptions) error

func deleteAll(ctx context.Context, kind, ns string, fn deleteCollection, del metav1.DeleteOptions, list metav1.ListOptions) error {
	if err := fn(ctx, del, list); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove %ss (%s) from namespace %s: %w", kind, ourSelector, ns, err)
	}
	return nil
}

// deleteServices deletes our Services one by one: the Services API has no
// delete-collection.
func deleteServices(cli kclient.Interface, ns string) deleteCollection {
	return func(ctx context.Context, del metav1.DeleteOptions, list metav1.ListOptions) error {
		svcs, err := cli.CoreV1().Services(ns).List(ctx, list)
		if err != nil {
			return err
		}
		var errs []error
		for _, s := range svcs.Items {
			if err := cli.CoreV1().Services(ns).Delete(ctx, s.Name, del); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
}

// waitGone waits until no ReplicaSet or pod of ours is left in ns (the
// garbage collector deletes the ReplicaSets of deleted Deployments, and
// their pods, after each pod's grace period).
func waitGone(ctx context.Context, cli kclient.Interface, ns string) error {
	list := metav1.ListOptions{LabelSelector: ourSelector}
	left := ""
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		rss, err := cli.AppsV1().ReplicaSets(ns).List(ctx, list)
		if err != nil {
			return false, err
		}
		pods, err := cli.CoreV1().Pods(ns).List(ctx, list)
		if err != nil {
			return false, err
		}
		left = fmt.Sprintf("%d replicasets, %d pods", len(rss.Items), len(pods.Items))
		return len(rss.Items) == 0 && len(pods.Items) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("remove from namespace %s: wait until the pods are gone (%s left): %w", ns, left, err)
	}
	return nil
}
