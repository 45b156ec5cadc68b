package kube

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/aiuptime/aiuptime/redact"
)

// Defaults of Load.
const (
	// DefaultImage is the k6 image built locally by `make k6-image`
	// (FROM scratch with bin/k6, the xk6-aiuptime extension inside).
	DefaultImage = "aiuptime/k6:dev"
	// DefaultScriptName is the script's key in the ConfigMap.
	DefaultScriptName = "test.js"
	// MaxScriptBytes is the largest script a ConfigMap holds (the API
	// server refuses objects over 1 MiB); a larger one needs a volume.
	MaxScriptBytes = 1 << 20
)

// Labels the generated objects carry.
const (
	// LabelManagedBy marks everything this package generates.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedBy is LabelManagedBy's value.
	ManagedBy = "aiuptime"
	// LabelLoad names the load test an object belongs to.
	LabelLoad = "aiuptime.io/load"
)

// Environment variables the xk6-aiuptime scripts read
// (xk6-aiuptime/scripts/lib/config.js).
const (
	EnvBaseURL = "BASE_URL"
	EnvAPIKey  = "API_KEY"
	EnvModel   = "MODEL"
)

// Errors callers branch on.
var (
	// ErrInvalid wraps every validation error of a Load.
	ErrInvalid = errors.New("invalid k6 load")
	// ErrScriptTooBig means the script does not fit a ConfigMap.
	ErrScriptTooBig = errors.New("k6 script too big for a ConfigMap")
)

// Load describes one distributed k6 test: the script, how many runners,
// the image, and the target. It is input data (a plan's params, the CLI's
// flags), validated by NewTestRun and NewJob.
type Load struct {
	// Name names the test and its objects (a DNS label).
	Name string `json:"name"`
	// Namespace is where everything is created.
	Namespace string `json:"namespace"`
	// Script is the k6 script's text: one file, no local imports (a
	// ConfigMap holds it).
	Script []byte `json:"-"`
	// ScriptName is the script's key in the ConfigMap (DefaultScriptName).
	ScriptName string `json:"script_name,omitempty"`
	// Parallelism is the number of k6 runners (>= 1).
	Parallelism int32 `json:"parallelism"`
	// Image is the runner image (DefaultImage).
	Image string `json:"image,omitempty"`
	// PullPolicy is the runners' imagePullPolicy (default Never: images
	// are built locally, there is no registry).
	PullPolicy corev1.PullPolicy `json:"pull_policy,omitempty"`
	// GatewayURL is the OpenAI-compatible base URL the script calls
	// (BASE_URL), as the pods reach it (a Service URL).
	GatewayURL string `json:"gateway_url,omitempty"`
	// Model is the model name or gateway alias (MODEL).
	Model string `json:"model,omitempty"`
	// APIKey names the Secret key holding the gateway's API key; the
	// runners get it as API_KEY through a secretKeyRef, never inline.
	APIKey *corev1.SecretKeySelector `json:"api_key,omitempty"`
	// Env are further variables for the script; a secret-looking name
	// (redact.IsSecretName) is refused: use a Secret.
	Env map[string]string `json:"env,omitempty"`
	// Args are extra `k6 run` arguments ("--vus", "10").
	Args []string `json:"args,omitempty"`
	// Labels are added to every object.
	Labels map[string]string `json:"labels,omitempty"`
	// NodeSelector places the runners.
	NodeSelector map[string]string `json:"node_selector,omitempty"`
}

// withDefaults returns l with the defaults filled in.
func (l Load) withDefaults() Load {
	if l.ScriptName == "" {
		l.ScriptName = DefaultScriptName
	}
	if l.Image == "" {
		l.Image = DefaultImage
	}
	if l.PullPolicy == "" {
		l.PullPolicy = corev1.PullNever
	}
	return l
}

// Validate returns every problem of l (joined, each wrapping ErrInvalid;
// a script over MaxScriptBytes also wraps ErrScriptTooBig).
func (l Load) Validate() error {
	l = l.withDefaults()
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...)))
	}
	for _, m := range validation.IsDNS1123Label(l.Name) {
		bad("name %q: %s", l.Name, m)
	}
	for _, m := range validation.IsDNS1123Label(l.Namespace) {
		bad("namespace %q: %s", l.Namespace, m)
	}
	if len(bytes.TrimSpace(l.Script)) == 0 {
		bad("no script")
	}
	if len(l.Script) > MaxScriptBytes {
		errs = append(errs, fmt.Errorf("%w: %w: %d bytes, a ConfigMap holds at most %d (use a volumeClaim or an image with the script)",
			ErrInvalid, ErrScriptTooBig, len(l.Script), MaxScriptBytes))
	}
	for _, m := range validation.IsConfigMapKey(l.ScriptName) {
		bad("script name %q: %s", l.ScriptName, m)
	}
	if l.Parallelism < 1 {
		bad("parallelism %d: want at least 1", l.Parallelism)
	}
	if strings.TrimSpace(l.Image) == "" {
		bad("no image")
	}
	if l.APIKey != nil && (l.APIKey.Name == "" || l.APIKey.Key == "") {
		bad("api key: want a Secret name and key")
	}
	for _, k := range slices.Sorted(maps.Keys(l.Env)) {
		if k == EnvAPIKey || redact.IsSecretName(k) {
			bad("env %s has a secret-like name; reference a Secret (api_key) instead of an inline value", k)
		}
		for _, m := range validation.IsEnvVarName(k) {
			bad("env %q: %s", k, m)
		}
	}
	return errors.Join(errs...)
}

// labels are the labels of every object of l.
func (l Load) labels() map[string]string {
	out := map[string]string{}
	maps.Copy(out, l.Labels)
	out[LabelManagedBy] = ManagedBy
	out[LabelLoad] = l.Name
	return out
}

// env is the runners' environment: BASE_URL, MODEL, API_KEY (from the
// Secret), then Env sorted by name.
func (l Load) env() []corev1.EnvVar {
	var out []corev1.EnvVar
	if l.GatewayURL != "" {
		out = append(out, corev1.EnvVar{Name: EnvBaseURL, Value: l.GatewayURL})
	}
	if l.Model != "" {
		out = append(out, corev1.EnvVar{Name: EnvModel, Value: l.Model})
	}
	if l.APIKey != nil {
		ref := *l.APIKey
		out = append(out, corev1.EnvVar{Name: EnvAPIKey, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &ref}})
	}
	for _, k := range slices.Sorted(maps.Keys(l.Env)) {
		out = append(out, corev1.EnvVar{Name: k, Value: l.Env[k]})
	}
	out = append(out, corev1.EnvVar{Name: "K6_NO_USAGE_REPORT", Value: "true"})
	return out
}

// scriptConfigMap is the ConfigMap holding the script under ScriptName,
// plus extra keys.
func (l Load) scriptConfigMap(name string, extra map[string]string) *corev1.ConfigMap {
	data := map[string]string{l.ScriptName: string(l.Script)}
	maps.Copy(data, extra)
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: l.Namespace, Labels: l.labels()},
		Data:       data,
	}
}

// ScriptConfigMapName is the name of the ConfigMap holding a load's script.
func ScriptConfigMapName(load string) string { return load + "-script" }

// NewTestRun returns the ConfigMap holding the script and the k6-operator
// TestRun that runs it on Parallelism runners; apply the ConfigMap first.
// The runners are unpaused only when the operator's starter can reach
// them; the defaults (paused, quiet) are kept, and Cleanup is "post".
func NewTestRun(l Load) (*corev1.ConfigMap, *TestRun, error) {
	if err := l.Validate(); err != nil {
		return nil, nil, err
	}
	l = l.withDefaults()
	cm := l.scriptConfigMap(ScriptConfigMapName(l.Name), nil)
	runner := &Pod{
		Image:           l.Image,
		ImagePullPolicy: l.PullPolicy,
		Env:             l.env(),
		NodeSelector:    l.NodeSelector,
		Metadata:        PodMetadata{Labels: l.labels()},
	}
	tr := &TestRun{
		TypeMeta:   metav1.TypeMeta{APIVersion: APIVersion, Kind: KindTestRun},
		ObjectMeta: metav1.ObjectMeta{Name: l.Name, Namespace: l.Namespace, Labels: l.labels()},
		Spec: TestRunSpec{
			Script:      Script{ConfigMap: &ConfigMapScript{Name: cm.Name, File: l.ScriptName}},
			Parallelism: l.Parallelism,
			Arguments:   shellJoin(l.Args),
			Runner:      runner,
			Cleanup:     CleanupPost,
		},
	}
	return cm, tr, nil
}

// shellJoin joins args into the one string TestRun.spec.arguments takes,
// quoting those with spaces or quotes.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// YAML renders objects as one multi-document YAML stream for `kubectl
// apply -f -`, in the order given.
func YAML(objects ...any) ([]byte, error) {
	var buf bytes.Buffer
	for i, o := range objects {
		b, err := yaml.Marshal(o)
		if err != nil {
			return nil, fmt.Errorf("encode object %d as YAML: %w", i, err)
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}
