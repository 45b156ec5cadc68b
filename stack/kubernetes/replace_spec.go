package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	kclient "k8s.io/client-go/kubernetes"

	"github.com/aiuptime/aiuptime/stack"
)

// ModelGenerator says how a model server's pod gets a model version the
// cluster has nowhere (stack.WithModelVersion: a canary or a replica of
// the new model): an init container of the pod's own image runs Command
// into an emptyDir that replaces the pod volume Volume, mounted where the
// server's container mounts that volume. In Command, {dir} is that mount
// path, {model} the stack's model name and {version} the version. The
// generator must write the same files for the same version on every pod
// (the golden answer must agree across replicas).
type ModelGenerator struct {
	Volume  string   `json:"volume"`
	Command []string `json:"command"`
}

// GenContainer is the name of the init container a ModelGenerator adds.
const GenContainer = "aiuptime-gen-model"

// WithModelGenerator lets AddService and ReplaceService serve a new model
// version (without it, a version alone is refused: the model is in the
// image or its arguments).
func WithModelGenerator(g ModelGenerator) Option {
	return func(o *options) error {
		if g.Volume == "" || len(g.Command) == 0 {
			return errors.New("model generator: want a volume and a command")
		}
		o.generator = &g
		return nil
	}
}

// applySpec changes a model server's pod template as spec asks: the first
// container's image, appended args and env, and with a model version the
// generator's init container.
func applySpec(tpl *corev1.PodTemplateSpec, spec stack.ServiceSpec, gen *ModelGenerator, model string) error {
	cs := tpl.Spec.Containers
	if len(cs) == 0 {
		return errors.New("the pod template has no container")
	}
	c := &cs[0]
	if spec.Image != "" {
		c.Image = spec.Image
	}
	c.Args = append(c.Args, spec.Args...)
	keys := make([]string, 0, len(spec.Env))
	for k := range spec.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == k })
		c.Env = append(c.Env, corev1.EnvVar{Name: k, Value: spec.Env[k]})
	}
	if spec.ModelSize > 0 || spec.ModelVolume != "" {
		return stack.Unsupported(Kind, "a model size or another service's model volume (the pod template says where the model is)")
	}
	if spec.ModelVersion == "" {
		return nil
	}
	if gen == nil {
		return stack.Unsupported(Kind, "model version "+spec.ModelVersion+" alone: the stack file has no kubernetes.model_generator (give an image or args that carry the version)")
	}
	return generateModel(tpl, c, gen, model, spec.ModelVersion)
}

// generateModel swaps the generator's volume for an emptyDir that an init
// container fills with version.
func generateModel(tpl *corev1.PodTemplateSpec, c *corev1.Container, gen *ModelGenerator, model, version string) error {
	vi := slices.IndexFunc(tpl.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == gen.Volume })
	mi := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == gen.Volume })
	if vi < 0 || mi < 0 {
		return fmt.Errorf("model generator: the pod has no volume %q mounted in container %s", gen.Volume, c.Name)
	}
	dir := c.VolumeMounts[mi].MountPath
	tpl.Spec.Volumes[vi].VolumeSource = corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
	r := strings.NewReplacer("{dir}", dir, "{model}", model, "{version}", version)
	argv := make([]string, len(gen.Command))
	for i, a := range gen.Command {
		argv[i] = r.Replace(a)
	}
	ic := corev1.Container{Name: GenContainer, Image: c.Image, ImagePullPolicy: c.ImagePullPolicy, Command: argv,
		VolumeMounts: []corev1.VolumeMount{{Name: gen.Volume, MountPath: dir}}}
	tpl.Spec.InitContainers = slices.DeleteFunc(tpl.Spec.InitContainers, func(x corev1.Container) bool { return x.Name == GenContainer })
	tpl.Spec.InitContainers = append(tpl.Spec.InitContainers, ic)
	if tpl.Annotations == nil {
		tpl.Annotations = map[string]string{}
	}
	tpl.Annotations["aiuptime.io/model-version"] = version
	return nil
}

// UndoAddedFunc is the undo function of an added service: delete the
// Deployment the harness made for it.
const UndoAddedFunc = "kubernetes/added-service"

// addedState is what UndoAddedFunc needs.
type addedState struct {
	Conn       Conn         `json:"conn"`
	Namespace  string       `json:"namespace"`
	Deployment string       `json:"deployment"`
	Service    string       `json:"service"`
	Select     RoleSelector `json:"select"`
}

func init() {
	stack.RegisterUndoState(UndoAddedFunc, func(ctx context.Context, _ stack.Scope, st addedState) error {
		cli, err := st.Conn.Client()
		if err != nil {
			return err
		}
		return deleteAdded(ctx, cli, st.Namespace, st.Deployment, st.Service)
	})
}

// Check implements stack.UndoChecker: the namespace still opts in and
// carries the scope's labels, and the Deployment, if still there, carries
// the harness's labels for the service. Gone counts as undone.
func (st addedState) Check(ctx context.Context, sc stack.Scope) error {
	if st.Deployment == "" || st.Service == "" {
		return stack.Untrusted("kubernetes added-service state names no deployment or service")
	}
	rs := replicasState{Conn: st.Conn, Namespace: st.Namespace, Role: stack.RoleModel, Select: st.Select, Deployment: st.Deployment}
	return rs.Check(ctx, sc)
}

func (s *Stack) journalAdded(d interface{ GetName() string }, service string) (func() error, error) {
	st := addedState{Conn: s.o.conn, Namespace: s.o.namespace, Deployment: d.GetName(), Service: service, Select: s.o.roles[stack.RoleModel]}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	return s.changeJournal(s.o.namespace+"/"+d.GetName(), stack.Undo{Func: UndoAddedFunc, State: b},
		"a Deployment the drill added ("+service+"): a replay deletes it")
}

// deleteAdded deletes the Deployment name if it carries the harness's
// labels for service, with its pods, and waits until they are gone.
func deleteAdded(ctx context.Context, cli kclient.Interface, ns, name, service string) error {
	dc := cli.AppsV1().Deployments(ns)
	d, err := dc.Get(ctx, name, metav1.GetOptions{})
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("deployment %s/%s: %w", ns, name, err)
	}
	if d.Labels[LabelManagedBy] != ManagedBy || d.Labels[LabelService] != service {
		return fmt.Errorf("deployment %s/%s does not carry %s=%s and %s=%s: %w", ns, name, LabelManagedBy, ManagedBy, LabelService, service, stack.ErrNotOwned)
	}
	fg := metav1.DeletePropagationForeground
	err = dc.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &fg, Preconditions: &metav1.Preconditions{UID: &d.UID}})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete deployment %s/%s: %w", ns, name, err)
	}
	sel := LabelService + "=" + service + "," + LabelManagedBy + "=" + ManagedBy
	return wait.PollUntilContextTimeout(ctx, pollInterval, DefaultAddTimeout, true, func(ctx context.Context) (bool, error) {
		pl, err := cli.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return false, err
		}
		_, err = dc.Get(ctx, name, metav1.GetOptions{})
		return len(pl.Items) == 0 && isNotFound(err), nil
	})
}

// slotOf is the slot a service name stands for.
func slotOf(r stack.Role, name string) (int, bool) {
	if r == stack.RoleGateway && name == string(stack.RoleGateway) {
		return 0, true
	}
	n, err := strconv.Atoi(strings.TrimPrefix(name, string(r)+"-"))
	return n, err == nil && n >= 0 && strings.HasPrefix(name, string(r)+"-")
}

// moveSlot moves the pod uid of role r to slot to when that slot is free.
func (s *Stack) moveSlot(r stack.Role, uid types.UID, to int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	slots := s.slots[r]
	from := slices.Index(slots, uid)
	if from < 0 || from == to || (to < len(slots) && slots[to] != "") {
		return
	}
	for len(slots) <= to {
		slots = append(slots, "")
	}
	slots[to], slots[from] = uid, ""
	for len(slots) > 0 && slots[len(slots)-1] == "" {
		slots = slots[:len(slots)-1]
	}
	s.slots[r] = slots
}
