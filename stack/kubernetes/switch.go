package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	apitypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	kclient "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/aiuptime/aiuptime/stack"
)

// This file is the blue-green switch as Kubernetes does it: the Services
// that select a blue Deployment's pods get a selector that picks the
// green pods instead, and the switch is over when the Services'
// EndpointSlices hold exactly the green pods.

// DefaultSwitchTimeout bounds the wait for a switched Service's endpoints.
const DefaultSwitchTimeout = time.Minute

// SwitchResult is one Service's selector switch.
type SwitchResult struct {
	Service string            `json:"service"`
	From    map[string]string `json:"from"`
	To      map[string]string `json:"to"`
	// Patched is how long the API call took; Converged is from the call
	// until the Service's ready endpoints were exactly the pods To selects.
	Patched   time.Duration `json:"patched"`
	Converged time.Duration `json:"converged"`
	// Endpoints are the addresses it converged to.
	Endpoints []string `json:"endpoints"`
}

// SelectingServices lists the Services of the namespace whose selector
// picks the service's pod: what a blue-green switch moves.
func (s *Stack) SelectingServices(ctx context.Context, service string) ([]string, error) {
	_, pod, err := s.lookup(ctx, service)
	if err != nil {
		return nil, err
	}
	sl, err := s.cli.CoreV1().Services(s.o.namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list services in %s: %w", s.o.namespace, err)
	}
	var out []string
	for _, sv := range sl.Items {
		if len(sv.Spec.Selector) > 0 && labels.SelectorFromSet(sv.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			out = append(out, sv.Name)
		}
	}
	return out, nil
}

// AddedSelector is the selector of an added service's pods (AddService).
func AddedSelector(service string) map[string]string {
	return map[string]string{LabelService: service, LabelManagedBy: ManagedBy}
}

// SwitchService gives the Service name the selector to and waits until
// its ready endpoints are exactly the ready pods to selects. Both the
// pods it selected and those to selects must be the model role's, in the
// stack's namespace: the switch never sends traffic elsewhere. Before
// a switch with journal set, the selector it replaces is journaled
// (stack.ChangeJournal), so a crashed drill's replay puts it back; forget
// drops that record (a switch the drill keeps, or once switched back). A
// switch back passes journal false and calls the first one's forget.
func (s *Stack) SwitchService(ctx context.Context, name string, to map[string]string, journal bool) (*SwitchResult, func() error, error) {
	ns := s.o.namespace
	ref := ns + "/" + name
	sc := s.cli.CoreV1().Services(ns)
	sv, err := sc.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("switch service %s: %w", ref, err)
	}
	for _, sel := range []map[string]string{sv.Spec.Selector, to} {
		if err := s.onlyModelPods(ctx, sel); err != nil {
			return nil, nil, fmt.Errorf("switch service %s: %w", ref, err)
		}
	}
	res := &SwitchResult{Service: name, From: maps.Clone(sv.Spec.Selector), To: maps.Clone(to)}
	forget := func() error { return nil }
	if journal {
		forget, err = s.journalSwitch(sv)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("switch service %s: journal: %w", ref, err)
	}
	start := time.Now()
	if err := setSelector(ctx, s.cli, ns, name, sv.UID, to); err != nil {
		return nil, forget, fmt.Errorf("switch service %s: %w", ref, err)
	}
	res.Patched = time.Since(start)
	res.Endpoints, err = waitEndpoints(ctx, s.cli, ns, name, to)
	res.Converged = time.Since(start)
	if err != nil {
		return res, forget, fmt.Errorf("switch service %s: %w", ref, err)
	}
	s.log.Info("service switched", "service", ref, "to", labels.Set(to), "endpoints", res.Endpoints,
		"converged", res.Converged.Round(time.Millisecond))
	return res, forget, nil
}

// onlyModelPods refuses a selector that picks a pod the model role does
// not select (or picks nothing at all).
func (s *Stack) onlyModelPods(ctx context.Context, sel map[string]string) error {
	if len(sel) == 0 {
		return fmt.Errorf("an empty selector: %w", stack.ErrNotOwned)
	}
	role, err := s.selector(ctx, stack.RoleModel)
	if err != nil {
		return err
	}
	pl, err := s.cli.CoreV1().Pods(s.o.namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(sel).String()})
	if err != nil {
		return fmt.Errorf("pods of %s: %w", labels.Set(sel), err)
	}
	for _, p := range pl.Items {
		if !role.Matches(labels.Set(p.Labels)) {
			return fmt.Errorf("selector %s picks pod %s, which is not a model server of the stack (%s): %w", labels.Set(sel), p.Name, role, stack.ErrNotOwned)
		}
	}
	return nil
}

func setSelector(ctx context.Context, cli kclient.Interface, ns, name string, uid apitypes.UID, sel map[string]string) error {
	sc := cli.CoreV1().Services(ns)
	return retry.RetryOnConflict(conflictBackoff, func() error {
		sv, err := sc.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if sv.UID != uid {
			return fmt.Errorf("service %s/%s was replaced (uid %s, not %s): %w", ns, name, sv.UID, uid, stack.ErrNotOwned)
		}
		sv.Spec.Selector = maps.Clone(sel)
		_, err = sc.Update(ctx, sv, metav1.UpdateOptions{})
		return err
	})
}

// waitEndpoints waits until the Service's ready endpoint addresses are
// exactly the IPs of the ready pods sel picks (at least one).
func waitEndpoints(ctx context.Context, cli kclient.Interface, ns, name string, sel map[string]string) ([]string, error) {
	var got []string
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, DefaultSwitchTimeout, true, func(ctx context.Context) (bool, error) {
		pl, err := cli.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(sel).String()})
		if err != nil {
			return false, err
		}
		var want []string
		for i := range pl.Items {
			if p := &pl.Items[i]; live(p) && podReady(p) && p.Status.PodIP != "" {
				want = append(want, p.Status.PodIP)
			}
		}
		el, err := cli.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name})
		if err != nil {
			return false, err
		}
		got = readyAddresses(el.Items)
		slices.Sort(want)
		return len(want) > 0 && slices.Equal(got, want), nil
	})
	if err != nil {
		return got, fmt.Errorf("its endpoints %v never became exactly the pods of %s: %w", got, labels.Set(sel), err)
	}
	return got, nil
}

func readyAddresses(items []discoveryv1.EndpointSlice) []string {
	var out []string
	for _, es := range items {
		for _, ep := range es.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			out = append(out, ep.Addresses...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// UndoSwitchFunc is the undo function of a Service selector switch: put
// the journaled selector back.
const UndoSwitchFunc = "kubernetes/service-selector"

type switchState struct {
	Conn      Conn              `json:"conn"`
	Namespace string            `json:"namespace"`
	Service   string            `json:"service"`
	UID       apitypes.UID      `json:"uid"`
	Selector  map[string]string `json:"selector"`
	Select    RoleSelector      `json:"select"`
}

func init() {
	stack.RegisterUndoState(UndoSwitchFunc, func(ctx context.Context, _ stack.Scope, st switchState) error {
		cli, err := st.Conn.Client()
		if err != nil {
			return err
		}
		err = setSelector(ctx, cli, st.Namespace, st.Service, st.UID, st.Selector)
		if isNotFound(err) {
			return nil
		}
		return err
	})
}

// Check implements stack.UndoChecker: the namespace still opts in and
// carries the scope's labels, and the Service is the one journaled.
func (st switchState) Check(ctx context.Context, sc stack.Scope) error {
	if st.Service == "" || len(st.Selector) == 0 {
		return stack.Untrusted("kubernetes switch state names no service or selector")
	}
	if err := checkScopeNamespace(ctx, st.Conn, st.Namespace, sc); err != nil {
		return err
	}
	cli, err := st.Conn.Client()
	if err != nil {
		return err
	}
	sv, err := cli.CoreV1().Services(st.Namespace).Get(ctx, st.Service, metav1.GetOptions{})
	if isNotFound(err) || (err == nil && sv.UID != st.UID) {
		return stack.ErrGone
	}
	return err
}

func (s *Stack) journalSwitch(sv *corev1.Service) (func() error, error) {
	st := switchState{Conn: s.o.conn, Namespace: sv.Namespace, Service: sv.Name, UID: sv.UID, Selector: sv.Spec.Selector,
		Select: s.o.roles[stack.RoleModel]}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	return s.changeJournal(sv.Namespace+"/service/"+sv.Name, stack.Undo{Func: UndoSwitchFunc, State: b},
		"a Service switched to other pods (blue-green): a replay puts its selector back")
}
