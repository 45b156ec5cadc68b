package kubernetes

import (
	"context"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	kclient "k8s.io/client-go/kubernetes"
)

// podSeen is what a pod watch saw of one pod.
type podSeen struct {
	name string
	hash string // pod-template-hash: its ReplicaSet
	// before: the pod was there when the watch started.
	before bool
	// created is when the watch first saw it (creationTimestamp for pods
	// that were there before).
	created time.Time
	ready   time.Time
	deleted time.Time
	gone    time.Time
}

// podWatch follows the pods of a selector from a list onwards, noting
// when each was created, became ready, was deleted and went away.
type podWatch struct {
	mu   sync.Mutex
	pods map[types.UID]*podSeen
	done chan struct{}
}

// watchPods lists the pods of selector in namespace, then watches them
// until ctx ends (a closed watch is resumed from the last resource
// version; an expired one is listed again).
func watchPods(ctx context.Context, cli kclient.Interface, namespace, selector string) (*podWatch, error) {
	w := &podWatch{pods: map[types.UID]*podSeen{}, done: make(chan struct{})}
	pc := cli.CoreV1().Pods(namespace)
	list := func(initial bool) (string, error) {
		pl, err := pc.List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return "", fmt.Errorf("list pods (%s): %w", selector, err)
		}
		now := time.Now()
		w.mu.Lock()
		defer w.mu.Unlock()
		for i := range pl.Items {
			w.saw(&pl.Items[i], now, initial)
		}
		return pl.ResourceVersion, nil
	}
	rv, err := list(true)
	if err != nil {
		return nil, err
	}
	go func() {
		defer close(w.done)
		for ctx.Err() == nil {
			wi, err := pc.Watch(ctx, metav1.ListOptions{LabelSelector: selector, ResourceVersion: rv, AllowWatchBookmarks: true})
			if err != nil {
				if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
					rv, _ = list(false)
				}
				select {
				case <-ctx.Done():
				case <-time.After(pollInterval): // back off before watching again
				}
				continue
			}
			rv = w.follow(ctx, wi, rv, func() string { v, _ := list(false); return v })
			wi.Stop()
		}
	}()
	return w, nil
}

// follow handles the events of one watch and returns the resource version
// to resume from.
func (w *podWatch) follow(ctx context.Context, wi watch.Interface, rv string, relist func() string) string {
	for {
		select {
		case <-ctx.Done():
			return rv
		case ev, ok := <-wi.ResultChan():
			if !ok {
				return rv
			}
			if ev.Type == watch.Error {
				if st := apierrors.FromObject(ev.Object); apierrors.IsResourceExpired(st) || apierrors.IsGone(st) {
					return relist()
				}
				return rv
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			rv = p.ResourceVersion
			if ev.Type == watch.Bookmark {
				continue
			}
			now := time.Now()
			w.mu.Lock()
			ps := w.saw(p, now, false)
			if ev.Type == watch.Deleted && ps.gone.IsZero() {
				ps.gone = now
			}
			w.mu.Unlock()
		}
	}
}

// saw records pod p as seen at now; w.mu is held.
func (w *podWatch) saw(p *corev1.Pod, now time.Time, initial bool) *podSeen {
	ps, ok := w.pods[p.UID]
	if !ok {
		ps = &podSeen{name: p.Name, hash: p.Labels[appsv1.DefaultDeploymentUniqueLabelKey], before: initial, created: now}
		if initial {
			ps.created = p.CreationTimestamp.Time
		}
		w.pods[p.UID] = ps
	}
	if ps.ready.IsZero() {
		for _, c := range p.Status.Conditions {
			if c.Type != corev1.PodReady || c.Status != corev1.ConditionTrue {
				continue
			}
			ps.ready = now
			if !ok { // ready when first seen: the API's times are all there is
				ps.created, ps.ready = p.CreationTimestamp.Time, c.LastTransitionTime.Time
			}
		}
	}
	if p.DeletionTimestamp != nil && ps.deleted.IsZero() {
		ps.deleted = now
		if !ok {
			ps.deleted = p.DeletionTimestamp.Time
			if g := p.DeletionGracePeriodSeconds; g != nil {
				ps.deleted = ps.deleted.Add(-time.Duration(*g) * time.Second)
			}
		}
	}
	return ps
}

// stop waits for the watch to end (its context must be cancelled first)
// and returns what it saw.
func (w *podWatch) stop() []podSeen {
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]podSeen, 0, len(w.pods))
	for _, p := range w.pods {
		out = append(out, *p)
	}
	return out
}
