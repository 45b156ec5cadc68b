package kubernetes

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	kclient "k8s.io/client-go/kubernetes"

	"github.com/aiuptime/aiuptime/stack"
)

// Service implements stack.Stack.
func (s *Stack) Service(ctx context.Context, name string) (stack.Service, error) {
	svc, _, err := s.lookup(ctx, name)
	return svc, err
}

// Services implements stack.Stack: each role's pods, listed now.
func (s *Stack) Services(ctx context.Context) ([]stack.Service, error) {
	all, err := s.list(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]stack.Service, 0, len(all))
	for _, sp := range all {
		out = append(out, sp.svc)
	}
	return out, nil
}

// servicePod is a service with the pod behind it.
type servicePod struct {
	svc stack.Service
	pod corev1.Pod
}

func (s *Stack) lookup(ctx context.Context, name string) (stack.Service, corev1.Pod, error) {
	all, err := s.list(ctx)
	if err != nil {
		return stack.Service{}, corev1.Pod{}, err
	}
	for _, sp := range all {
		if sp.svc.Name == name {
			return sp.svc, sp.pod, nil
		}
	}
	return stack.Service{}, corev1.Pod{}, fmt.Errorf("service %q in namespace %s: %w", name, s.o.namespace, stack.ErrNotFound)
}

// selector resolves a role's label selector (a Deployment's is read now).
func (s *Stack) selector(ctx context.Context, r stack.Role) (labels.Selector, error) {
	return resolveSelector(ctx, s.cli, s.o.namespace, s.o.roles[r])
}

func resolveSelector(ctx context.Context, cli kclient.Interface, namespace string, rs RoleSelector) (labels.Selector, error) {
	if rs.Deployment == "" {
		sel, err := labels.Parse(rs.Selector)
		if err != nil {
			return nil, fmt.Errorf("selector %q: %w", rs.Selector, err)
		}
		if sel.Empty() {
			return nil, fmt.Errorf("selector %q selects every pod: refused", rs.Selector)
		}
		return sel, nil
	}
	d, err := cli.AppsV1().Deployments(namespace).Get(ctx, rs.Deployment, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s: %w", namespace, rs.Deployment, err)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s: selector: %w", namespace, rs.Deployment, err)
	}
	if sel.Empty() {
		return nil, fmt.Errorf("deployment %s/%s: its selector selects every pod: refused", namespace, rs.Deployment)
	}
	return sel, nil
}

// live reports whether a pod plays its role: not being deleted, not ended.
func live(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// list lists every role's live pods and names them by slot; the pods
// the harness added follow, by name.
func (s *Stack) list(ctx context.Context) ([]servicePod, error) {
	var out, extra []servicePod
	for _, r := range s.roleOrder() {
		sel, err := s.selector(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("kubernetes stack: role %s: %w", r, err)
		}
		pl, err := s.cli.CoreV1().Pods(s.o.namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return nil, fmt.Errorf("kubernetes stack: list pods of role %s (%s) in %s: %w", r, sel, s.o.namespace, err)
		}
		var pods []corev1.Pod
		for _, p := range pl.Items {
			switch {
			case !live(&p):
			case added(&p):
				svc := s.service(r, 0, &p)
				svc.Name, svc.DeploymentID = p.Labels[LabelService], p.Labels[LabelService]
				extra = append(extra, servicePod{svc: svc, pod: p})
			default:
				pods = append(pods, p)
			}
		}
		for slot, p := range s.assign(r, pods) {
			if p == nil {
				continue
			}
			out = append(out, servicePod{svc: s.service(r, slot, p), pod: *p})
		}
	}
	// Added services follow the slots, by name.
	sort.Slice(extra, func(i, j int) bool { return extra[i].svc.Name < extra[j].svc.Name })
	return append(out, extra...), nil
}

// added reports whether the harness added the pod (AddService): it is
// named by its LabelService label, not by a slot.
func added(p *corev1.Pod) bool {
	return p.Labels[LabelService] != "" && p.Labels[LabelManagedBy] == ManagedBy
}

// assign gives each pod of role r its slot (see Stack) and returns the
// pods by slot (nil for a free slot).
func (s *Stack) assign(r stack.Role, pods []corev1.Pod) []*corev1.Pod {
	sort.Slice(pods, func(i, j int) bool {
		a, b := pods[i].CreationTimestamp, pods[j].CreationTimestamp
		if !a.Equal(&b) {
			return a.Before(&b)
		}
		return pods[i].Name < pods[j].Name
	})
	byUID := map[types.UID]*corev1.Pod{}
	for i := range pods {
		byUID[pods[i].UID] = &pods[i]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	slots := s.slots[r]
	for i, uid := range slots {
		if _, ok := byUID[uid]; !ok {
			slots[i] = "" // gone: its slot is free for the replacement
		}
	}
	taken := map[types.UID]bool{}
	for _, uid := range slots {
		taken[uid] = true
	}
	for i := range pods {
		if taken[pods[i].UID] {
			continue
		}
		free := -1
		for j, uid := range slots {
			if uid == "" {
				free = j
				break
			}
		}
		if free < 0 {
			slots = append(slots, pods[i].UID)
		} else {
			slots[free] = pods[i].UID
		}
	}
	for len(slots) > 0 && slots[len(slots)-1] == "" {
		slots = slots[:len(slots)-1]
	}
	s.slots[r] = slots
	out := make([]*corev1.Pod, len(slots))
	for i, uid := range slots {
		out[i] = byUID[uid]
	}
	return out
}

// ServiceName names slot i of role r: "gateway" for the first gateway (as
// the other providers and the shipped plans name it), else <role>-<i>.
func ServiceName(r stack.Role, i int) string {
	if r == stack.RoleGateway && i == 0 {
		return string(stack.RoleGateway)
	}
	return fmt.Sprintf("%s-%d", r, i)
}

func (s *Stack) service(r stack.Role, slot int, p *corev1.Pod) stack.Service {
	name := ServiceName(r, slot)
	port := s.port(name, r, p)
	svc := stack.Service{
		Name: name, Role: r, HealthPath: s.healthPath(name, r), ModelName: s.o.modelName,
		ContainerID: string(p.UID), ContainerName: p.Name, RestartPolicy: string(p.Spec.RestartPolicy),
	}
	if len(p.Spec.Containers) > 0 {
		svc.Image = p.Spec.Containers[0].Image
	}
	if len(p.Status.ContainerStatuses) > 0 {
		svc.ImageID = p.Status.ContainerStatuses[0].ImageID
	}
	if p.Status.PodIP != "" {
		svc.InternalURL = "http://" + net.JoinHostPort(p.Status.PodIP, strconv.Itoa(port))
		svc.URL = svc.InternalURL
	}
	if r == stack.RoleGateway && s.o.gatewayURL != "" {
		svc.URL = s.o.gatewayURL
	}
	if r == stack.RoleModel {
		svc.DeploymentID = name
	}
	return svc
}

func (s *Stack) port(name string, r stack.Role, p *corev1.Pod) int {
	for _, k := range []string{name, string(r)} {
		if v, ok := s.o.ports[k]; ok {
			return v
		}
	}
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Protocol == "" || cp.Protocol == corev1.ProtocolTCP {
				return int(cp.ContainerPort)
			}
		}
	}
	return DefaultPorts[r]
}

func (s *Stack) healthPath(name string, r stack.Role) string {
	for _, k := range []string{name, string(r)} {
		if v, ok := s.o.healthPaths[k]; ok {
			return v
		}
	}
	return DefaultHealthPaths[r]
}
