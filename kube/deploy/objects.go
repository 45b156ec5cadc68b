package deploy

import (
	"fmt"
	"maps"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Names of the objects Deploy makes (the Secret, ConfigMap, Deployment and
// Service of the gateway all share GatewayName).
const (
	GatewayName    = "aiuptime-gateway"
	ModelConfigMap = "aiuptime-model"
	// SecretKey is the key of the gateway Secret that holds the master key.
	SecretKey = "master-key"
	// ModelReplicas is the number of model server Deployments.
	ModelReplicas = 2
)

// ModelDeployment names the Deployment (and Service) of model slot i.
func ModelDeployment(i int) string { return fmt.Sprintf("aiuptime-model-%d", i) }

// Labels on everything Deploy makes.
const (
	// LabelManagedBy=ManagedBy marks an object as the drill fixture's;
	// Deploy updates and Remove deletes only objects that carry it.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "aiuptime"
	// LabelName is the app label the stack file's role selectors use.
	LabelName  = "app.kubernetes.io/name"
	GatewayApp = "aiuptime-gateway"
	ModelApp   = "aiuptime-modelserver"
	// LabelSlot tells the model Deployments' pods apart.
	LabelSlot = "aiuptime.io/slot"
)

// Pod-template annotations: a change of what the pod reads from a
// ConfigMap or Secret changes the template, so the Deployment rolls.
const (
	annotationConfig    = "aiuptime.io/config-sha256"
	annotationModel     = "aiuptime.io/model-digest"
	annotationSecretRev = "aiuptime.io/secret-revision"
)

// Ports, paths and timing of the pods.
const (
	GatewayPort = 4000
	ModelPort   = 8000
	// PreStopSleep keeps a terminating pod serving while its removal from
	// the Service's endpoints reaches kube-proxy, before SIGTERM starts its
	// drain: so a rolling update drops no request. The images are FROM
	// scratch: the native sleep action, no shell.
	PreStopSleep = 5
	// ModelGrace and GatewayGrace cover the sleep plus each server's drain
	// (model server --drain-timeout 8 s, gateway 30 s) with room to spare.
	ModelGrace   = 20
	GatewayGrace = 40

	modelHealthPath    = "/health"
	gatewayHealthPath  = "/health/readiness"
	modelsMount        = "/models"
	modelRunDir        = "/run/aiuptime"
	gatewayConfigDir   = "/etc/aiuptime"
	gatewayConfigFile  = "gateway.yaml"
	gatewayDataMount   = "/data"
	gatewayKeyEnv      = "LITELLM_MASTER_KEY"
	modelContainerName = "modelserver"
	gatewayContainer   = "gateway"
)

func managed(extra map[string]string) map[string]string {
	l := map[string]string{LabelManagedBy: ManagedBy}
	maps.Copy(l, extra)
	return l
}

func meta(name, ns string, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: managed(labels)}
}

func modelLabels(slot int) map[string]string {
	return map[string]string{LabelName: ModelApp, LabelSlot: strconv.Itoa(slot)}
}

func gatewayLabels() map[string]string { return map[string]string{LabelName: GatewayApp} }

func gatewaySecret(ns, key string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: meta(GatewayName, ns, gatewayLabels()), Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{SecretKey: []byte(key)}}
}

func modelConfigMap(ns string, files map[string][]byte) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: meta(ModelConfigMap, ns, map[string]string{LabelName: ModelApp}), BinaryData: files}
}

func gatewayConfigMap(ns string, cfg []byte) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: meta(GatewayName, ns, gatewayLabels()), Data: map[string]string{gatewayConfigFile: string(cfg)}}
}

func service(ns, name string, sel map[string]string, port int32) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: meta(name, ns, sel),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: sel,
			Ports:    []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: port, TargetPort: intstr.FromInt32(port)}},
		},
	}
}

// deployment is a one-replica Deployment rolled one surge pod at a time,
// never below one available pod.
func deployment(ns, name string, labels map[string]string, tpl corev1.PodTemplateSpec) *appsv1.Deployment {
	one, zero := intstr.FromInt32(1), intstr.FromInt32(0)
	replicas := int32(1)
	tpl.Labels = managed(labels)
	return &appsv1.Deployment{
		ObjectMeta: meta(name, ns, labels),
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &one, MaxUnavailable: &zero}},
			Template: tpl,
		},
	}
}

// podSpec is what both servers' pods share: the node selector, no
// service-account token or service links (neither server calls the API),
// and the grace period.
func podSpec(o *options, grace int64, c corev1.Container, vols ...corev1.Volume) corev1.PodSpec {
	no := false
	return corev1.PodSpec{
		NodeSelector:                  maps.Clone(o.nodeSelector),
		AutomountServiceAccountToken:  &no,
		EnableServiceLinks:            &no,
		TerminationGracePeriodSeconds: &grace,
		Containers:                    []corev1.Container{c},
		Volumes:                       vols,
	}
}

func container(name, image string, port int32, health string, args []string) corev1.Container {
	return corev1.Container{
		Name: name, Image: image, ImagePullPolicy: corev1.PullNever, Args: args,
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: port, Protocol: corev1.ProtocolTCP}},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: health, Port: intstr.FromInt32(port)}},
			PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 1,
		},
		Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: PreStopSleep}}},
	}
}

// modelDeployment runs the model server as the containers provider starts
// it (--model-dir, --port, --served-model-name; AIUPTIME_RUN_DIR), with the
// model from the ConfigMap at /models.
func modelDeployment(o *options, slot int, digest string) *appsv1.Deployment {
	c := container(modelContainerName, o.modelImage, ModelPort, modelHealthPath,
		[]string{"--model-dir", modelsMount, "--port", strconv.Itoa(ModelPort), "--served-model-name", o.modelName})
	c.Env = []corev1.EnvVar{{Name: "AIUPTIME_RUN_DIR", Value: modelRunDir}}
	c.VolumeMounts = []corev1.VolumeMount{{Name: "models", MountPath: modelsMount, ReadOnly: true}, {Name: "run", MountPath: modelRunDir}}
	models := corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: ModelConfigMap}}}
	if o.modelHostDir != "" {
		models = corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: ModelHostPath(o.modelHostDir, slot), Type: ptr(corev1.HostPathDirectory)}}
		c.VolumeMounts[0].ReadOnly = false // the model server may be restored in place
	}
	tpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{annotationModel: digest}},
		Spec: podSpec(o, ModelGrace, c,
			corev1.Volume{Name: "models", VolumeSource: models},
			corev1.Volume{Name: "run", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}),
	}
	return deployment(o.namespace, ModelDeployment(slot), modelLabels(slot), tpl)
}

// gatewayDeployment runs the gateway with its config from the ConfigMap,
// its master key from the Secret and its database in an emptyDir (a new
// pod starts with an empty database: there is no storage provisioner).
func gatewayDeployment(o *options, cfgSum, secretRev string) *appsv1.Deployment {
	c := container(gatewayContainer, o.gatewayImage, GatewayPort, gatewayHealthPath,
		[]string{"--config", gatewayConfigDir + "/" + gatewayConfigFile, "--port", strconv.Itoa(GatewayPort)})
	c.Env = []corev1.EnvVar{{Name: gatewayKeyEnv, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: GatewayName}, Key: SecretKey}}}}
	c.VolumeMounts = []corev1.VolumeMount{{Name: "config", MountPath: gatewayConfigDir, ReadOnly: true}, {Name: "data", MountPath: gatewayDataMount}}
	tpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{annotationConfig: cfgSum, annotationSecretRev: secretRev}},
		Spec: podSpec(o, GatewayGrace, c,
			corev1.Volume{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: GatewayName}}}},
			corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}),
	}
	return deployment(o.namespace, GatewayName, gatewayLabels(), tpl)
}

func ptr[T any](v T) *T { return &v }
