package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/aiuptime/aiuptime/stack"
)

// This file is stack.Replacer on a cluster: a service the harness adds (a
// canary) is a one-replica Deployment of its own, copied from a model
// server's Deployment and changed by the release; replacing a service
// rolls the Deployment that owns its pod; removing deletes only a
// Deployment the harness added.

// Labels and annotations on what the harness adds to a stack.
const (
	// LabelService names an added service: its pods are listed under this
	// name instead of a slot (AddService).
	LabelService = "aiuptime.io/service"
	// LabelManagedBy=ManagedBy marks an object the harness made.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "aiuptime"
	// AnnotationAddedFrom names the Deployment an added one was copied from.
	AnnotationAddedFrom = "aiuptime.io/added-from"
)

// DefaultAddTimeout bounds the wait for an added service's pod to be
// ready when the spec gives no HealthTimeout.
const DefaultAddTimeout = 3 * time.Minute

var (
	_ stack.Replacer        = (*Stack)(nil)
	_ stack.ChangeJournaler = (*Stack)(nil)
)

// slotName matches the names the provider gives by slot: an added service
// may not take one.
var slotName = regexp.MustCompile(`^(gateway|(gateway|model|proxy|monitor)-[0-9]+)$`)

// SetChangeJournal implements stack.ChangeJournaler: AddService journals
// the Deployment it makes (a crash replay deletes it), and blue-green
// switches journal the selector they replace.
func (s *Stack) SetChangeJournal(j stack.ChangeJournal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.journal = j
}

// changeJournal journals u before a change; with no journal set the
// change is not journaled and forget does nothing.
func (s *Stack) changeJournal(target string, u stack.Undo, note string) (func() error, error) {
	s.mu.Lock()
	j := s.journal
	s.mu.Unlock()
	if j == nil {
		return func() error { return nil }, nil
	}
	return j(target, u, note)
}

// AddService implements stack.Replacer for role model: a Deployment named
// <source>-<name> (a name that starts with the source service's name and
// a dash loses that prefix: model-0-green of aiuptime-model-0 is
// aiuptime-model-0-green) with one replica, copied from the Deployment of the
// first model service and changed by opts (image, args, env, model
// version through the stack's ModelGenerator). Its pods keep the role's
// labels (the stack owns them), carry LabelService=name (the stack lists
// them as name) and get every other label of the source's selector
// suffixed, so that no Deployment or Service of the namespace selects
// them: traffic reaches them only where the caller sends it (a canary's
// weight at the gateway). It returns once the pod is ready.
func (s *Stack) AddService(ctx context.Context, name string, role stack.Role, opts ...stack.ServiceOption) (stack.Service, error) {
	if role != stack.RoleModel {
		return stack.Service{}, stack.Unsupported(Kind, fmt.Sprintf("add a %s service %s (only model servers; gateway-update rolls the %s's Deployment)", role, name, role))
	}
	srcSvc, err := s.firstModel(ctx)
	if err != nil {
		return stack.Service{}, fmt.Errorf("add service %s: %w", name, err)
	}
	return s.AddServiceFrom(ctx, srcSvc, name, opts...)
}

// AddServiceFrom is AddService copying the Deployment of the model
// service from (blue-green's green twin of each blue service).
func (s *Stack) AddServiceFrom(ctx context.Context, from, name string, opts ...stack.ServiceOption) (stack.Service, error) {
	if err := checkAddedName(name); err != nil {
		return stack.Service{}, err
	}
	if _, _, err := s.lookup(ctx, name); err == nil {
		return stack.Service{}, fmt.Errorf("add service %s: it exists", name)
	}
	srcName, err := s.DeploymentOf(ctx, from)
	if err != nil {
		return stack.Service{}, fmt.Errorf("add service %s: %w", name, err)
	}
	src, err := s.ownedDeployment(ctx, s.o.namespace, srcName, stack.RoleModel)
	if err != nil {
		return stack.Service{}, fmt.Errorf("add service %s: %w", name, err)
	}
	spec := stack.NewServiceSpec(opts...)
	d, err := s.addedDeployment(ctx, src, name, strings.TrimPrefix(name, from+"-"), spec)
	if err != nil {
		return stack.Service{}, fmt.Errorf("add service %s: %w", name, err)
	}
	forget, err := s.journalAdded(d, name)
	if err != nil {
		return stack.Service{}, fmt.Errorf("add service %s: journal: %w", name, err)
	}
	ref := s.o.namespace + "/" + d.Name
	if _, err := s.cli.AppsV1().Deployments(s.o.namespace).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		_ = forget()
		return stack.Service{}, fmt.Errorf("add service %s: create deployment %s: %w", name, ref, err)
	}
	s.rememberAdded(name, forget)
	s.log.Info("service added", "service", name, "deployment", ref, "from", src.Name)
	svc, err := s.waitAdded(ctx, name, spec.HealthTimeout)
	if err != nil {
		return stack.Service{}, errors.Join(fmt.Errorf("add service %s (deployment %s): %w", name, ref, err),
			s.RemoveService(context.WithoutCancel(ctx), name))
	}
	return svc, nil
}

// firstModel is the model service of the lowest slot that the harness
// did not add.
func (s *Stack) firstModel(ctx context.Context) (string, error) {
	all, err := s.list(ctx)
	if err != nil {
		return "", err
	}
	for _, sp := range all {
		if sp.svc.Role == stack.RoleModel && sp.pod.Labels[LabelService] == "" {
			return sp.svc.Name, nil
		}
	}
	return "", fmt.Errorf("no model service to copy: %w", stack.ErrNotFound)
}

func checkAddedName(name string) error {
	if e := validation.IsDNS1123Label(name); len(e) > 0 {
		return fmt.Errorf("add service %q: %s", name, strings.Join(e, "; "))
	}
	if slotName.MatchString(name) {
		return fmt.Errorf("add service %q: the provider names services by slot so (pick another name)", name)
	}
	return nil
}

// addedDeployment builds the Deployment of an added service from src,
// named <src>-<suffix>.
func (s *Stack) addedDeployment(ctx context.Context, src *appsv1.Deployment, name, suffix string, spec stack.ServiceSpec) (*appsv1.Deployment, error) {
	tpl := src.Spec.Template.DeepCopy()
	delete(tpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	roleSel, err := s.selector(ctx, stack.RoleModel)
	if err != nil {
		return nil, err
	}
	for k, v := range src.Spec.Selector.MatchLabels {
		moved := maps.Clone(tpl.Labels)
		moved[k] = v + "-" + suffix
		if roleSel.Matches(labels.Set(moved)) {
			tpl.Labels = moved
		}
	}
	own := map[string]string{LabelService: name, LabelManagedBy: ManagedBy}
	maps.Copy(tpl.Labels, own)
	if !roleSel.Matches(labels.Set(tpl.Labels)) {
		return nil, fmt.Errorf("its pods' labels %s would not match the model role's selector %s", labels.Set(tpl.Labels), roleSel)
	}
	if err := s.refuseOverlap(ctx, tpl.Labels); err != nil {
		return nil, err
	}
	if err := applySpec(tpl, spec, s.o.generator, s.o.modelName); err != nil {
		return nil, err
	}
	one := int32(1)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: src.Name + "-" + suffix, Namespace: s.o.namespace, Labels: own,
			Annotations: map[string]string{AnnotationAddedFrom: src.Name}},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: own}, Template: *tpl,
			Strategy: *src.Spec.Strategy.DeepCopy(), MinReadySeconds: src.Spec.MinReadySeconds,
		},
	}, nil
}

// refuseOverlap refuses pod labels that a Deployment or Service of the
// namespace selects: an added pod would be adopted or get traffic the
// caller does not control.
func (s *Stack) refuseOverlap(ctx context.Context, l map[string]string) error {
	ns := s.o.namespace
	dl, err := s.cli.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list deployments in %s: %w", ns, err)
	}
	for _, d := range dl.Items {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(l)) {
			return fmt.Errorf("deployment %s/%s would select its pods (labels %s): give the source's pods a label its selector alone uses", ns, d.Name, labels.Set(l))
		}
	}
	sl, err := s.cli.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list services in %s: %w", ns, err)
	}
	for _, sv := range sl.Items {
		if len(sv.Spec.Selector) > 0 && labels.SelectorFromSet(sv.Spec.Selector).Matches(labels.Set(l)) {
			return fmt.Errorf("service %s/%s would send traffic to its pods (labels %s)", ns, sv.Name, labels.Set(l))
		}
	}
	return nil
}

// waitAdded waits until the added service's pod is ready and returns it.
func (s *Stack) waitAdded(ctx context.Context, name string, timeout time.Duration) (stack.Service, error) {
	if timeout <= 0 {
		timeout = DefaultAddTimeout
	}
	var svc stack.Service
	err := wait.PollUntilContextTimeout(ctx, pollInterval, timeout, true, func(ctx context.Context) (bool, error) {
		sv, pod, err := s.lookup(ctx, name)
		if errors.Is(err, stack.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		svc = sv
		return podReady(&pod) && sv.InternalURL != "", nil
	})
	if err != nil {
		return stack.Service{}, fmt.Errorf("wait for its pod to be ready: %w", err)
	}
	return svc, nil
}

// ReplaceService implements stack.Replacer: the Deployment that owns the
// service's pod is rolled (as RollDeployment does) to its pod template as
// this Stack first saw it, changed by opts, and the new pod takes the
// service's name. So, as on the containers provider, a replace without
// options is a rollback, and two replaces do not add up. A Deployment of
// several replicas rolls them all.
func (s *Stack) ReplaceService(ctx context.Context, name string, opts ...stack.ServiceOption) (stack.Service, error) {
	svc, _, err := s.lookup(ctx, name)
	if err != nil {
		return stack.Service{}, err
	}
	if svc.Role != stack.RoleModel {
		return stack.Service{}, stack.Unsupported(Kind, fmt.Sprintf("replace %s service %s (only model servers)", svc.Role, name))
	}
	dep, err := s.DeploymentOf(ctx, name)
	if err != nil {
		return stack.Service{}, fmt.Errorf("replace %s: %w", name, err)
	}
	spec := stack.NewServiceSpec(opts...)
	res, err := s.roll(ctx, stack.RoleModel, []RolloutOption{RolloutDeployment(dep)}, nil, func(d *appsv1.Deployment) error {
		tpl := s.originalTemplate(d)
		if err := applySpec(tpl, spec, s.o.generator, s.o.modelName); err != nil {
			return err
		}
		d.Spec.Template = *tpl
		return nil
	})
	if err != nil {
		return stack.Service{}, fmt.Errorf("replace %s (deployment %s): %w", name, dep, err)
	}
	if len(res.NewPods) == 0 {
		// Nothing changed: the same pod serves.
		return svc, nil
	}
	return s.takeSlot(ctx, name, svc.Role, res.NewPods)
}

// originalTemplate is a copy of d's pod template as this Stack first saw
// it in ReplaceService.
func (s *Stack) originalTemplate(d *appsv1.Deployment) *corev1.PodTemplateSpec {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.orig == nil {
		s.orig = map[types.UID]*corev1.PodTemplateSpec{}
	}
	if _, ok := s.orig[d.UID]; !ok {
		s.orig[d.UID] = d.Spec.Template.DeepCopy()
	}
	return s.orig[d.UID].DeepCopy()
}

// takeSlot gives the replaced service's name to its Deployment's new pod
// (the surge pod came up while the old one held the name) and returns it.
func (s *Stack) takeSlot(ctx context.Context, name string, role stack.Role, pods []PodTiming) (stack.Service, error) {
	all, err := s.list(ctx)
	if err != nil {
		return stack.Service{}, err
	}
	isNew := map[string]bool{}
	for _, pt := range pods {
		isNew[pt.Name] = true
	}
	for _, sp := range all {
		if !isNew[sp.pod.Name] {
			continue
		}
		if sp.svc.Name == name {
			return sp.svc, nil
		}
		if slot, ok := slotOf(role, name); ok {
			s.moveSlot(role, sp.pod.UID, slot)
		}
		svc, _, err := s.lookup(ctx, name)
		return svc, err
	}
	return stack.Service{}, fmt.Errorf("replace %s: none of its new pods is live: %w", name, stack.ErrNotFound)
}

// RemoveService implements stack.Replacer for added services only: their
// Deployment is deleted (its pods with it) and waited for. A service the
// harness did not add is refused: the drill never deletes the customer's
// workloads.
func (s *Stack) RemoveService(ctx context.Context, name string) error {
	ns := s.o.namespace
	dl, err := s.cli.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(map[string]string{
		LabelService: name, LabelManagedBy: ManagedBy}).String()})
	if err != nil {
		return fmt.Errorf("remove service %s: list deployments: %w", name, err)
	}
	if len(dl.Items) == 0 {
		if _, _, lerr := s.lookup(ctx, name); lerr == nil {
			return fmt.Errorf("remove service %s: the harness did not add it: %w", name, stack.ErrNotOwned)
		}
		s.forgetAdded(name)
		return nil // gone already
	}
	var errs []error
	for _, d := range dl.Items {
		errs = append(errs, deleteAdded(ctx, s.cli, ns, d.Name, name))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove service %s: %w", name, err)
	}
	s.log.Info("service removed", "service", name)
	s.forgetAdded(name)
	return nil
}

// AdoptService keeps an added service for good (a promoted canary): its
// journal record is dropped, so no cleanup removes it.
func (s *Stack) AdoptService(name string) error {
	return s.forgetAdded(name)
}

func (s *Stack) rememberAdded(name string, forget func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.added == nil {
		s.added = map[string]func() error{}
	}
	s.added[name] = forget
}

func (s *Stack) forgetAdded(name string) error {
	s.mu.Lock()
	f := s.added[name]
	delete(s.added, name)
	s.mu.Unlock()
	if f == nil {
		return nil
	}
	return f()
}
