package kube

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/aiuptime/aiuptime/backup"
)

// Object is one backed-up or restored ConfigMap or Secret, as reports show
// it: names and key names only, never values.
type Object struct {
	Kind string   `json:"kind"` // ConfigMap or Secret
	Name string   `json:"name"`
	Keys []string `json:"keys"`
	// Action is what a restore did: created, updated or unchanged.
	Action string `json:"action,omitempty"`
}

// String renders the object without values.
func (o Object) String() string {
	s := fmt.Sprintf("%s %s [%s]", o.Kind, o.Name, strings.Join(o.Keys, ","))
	if o.Action != "" {
		s += " " + o.Action
	}
	return s
}

// Restore actions.
const (
	ActionCreated   = "created"
	ActionUpdated   = "updated"
	ActionUnchanged = "unchanged"
)

// Backup writes a snapshot of the selected ConfigMaps and Secrets, and of
// the named claims' contents (through a helper pod each, helper.go), into
// dir (backup.Snapshot: created, must be empty).
func (k *Kube) Backup(ctx context.Context, dir string, claims ...string) (*backup.Manifest, error) {
	if err := k.checkOptIn(ctx); err != nil {
		return nil, err
	}
	sources := []backup.Source{objectSource{k: k, secrets: false}, objectSource{k: k, secrets: true}}
	for _, c := range claims {
		sources = append(sources, claimSource{k: k, claim: c})
	}
	m, err := backup.Snapshot(ctx, dir, k.origin(), sources...)
	if err != nil {
		return nil, fmt.Errorf("kubernetes backup of %s: %w", k.ns, err)
	}
	k.o.log.Info("kubernetes backup written", "dir", dir, "namespace", k.ns, "files", len(m.Entries), "bytes", m.Bytes)
	return m, nil
}

// objectSource backs up the selected ConfigMaps or Secrets, one YAML file
// each (<name>.yaml), stripped of what the server sets.
type objectSource struct {
	k       *Kube
	secrets bool
}

// Name implements backup.Source.
func (s objectSource) Name() string {
	if s.secrets {
		return SourceSecrets
	}
	return SourceConfigMaps
}

// Collect implements backup.Source. Its SourceInfo's Meta lists the
// objects ("objects") and each one's keys ("keys/<name>").
func (s objectSource) Collect(ctx context.Context, dir string) (backup.SourceInfo, error) {
	info := backup.SourceInfo{Kind: KindConfigMaps, From: s.k.origin(), Meta: map[string]string{}}
	var objs []Object
	write := func(name string, obj any, keys []string, kind string) error {
		b, err := yaml.Marshal(obj)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", kind, name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), b, 0o600); err != nil {
			return fmt.Errorf("write %s %s: %w", kind, name, err)
		}
		objs = append(objs, Object{Kind: kind, Name: name, Keys: keys})
		return nil
	}
	if s.secrets {
		info.Kind = KindSecrets
		items, err := s.k.listSecrets(ctx)
		if err != nil {
			return info, err
		}
		for _, sec := range items {
			c := cleanSecret(sec)
			if err := write(c.Name, c, secretKeys(c), "Secret"); err != nil {
				return info, err
			}
		}
	} else {
		items, err := s.k.listConfigMaps(ctx)
		if err != nil {
			return info, err
		}
		for _, cm := range items {
			c := cleanConfigMap(cm)
			if err := write(c.Name, c, configMapKeys(c), "ConfigMap"); err != nil {
				return info, err
			}
		}
	}
	names := make([]string, len(objs))
	for i, o := range objs {
		names[i] = o.Name
		info.Meta["keys/"+o.Name] = strings.Join(o.Keys, ",")
		s.k.o.log.Info("backed up", "kind", o.Kind, "name", o.Name, "keys", o.Keys)
	}
	info.Meta["objects"] = strings.Join(names, ",")
	info.Meta["count"] = strconv.Itoa(len(objs))
	return info, nil
}

// cleanMeta keeps what a restore needs: name, namespace, labels,
// annotations (the last-applied one dropped: it may hold a Secret's data).
func cleanMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	ann := maps.Clone(m.Annotations)
	delete(ann, corev1.LastAppliedConfigAnnotation)
	if len(ann) == 0 {
		ann = nil
	}
	return metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, Labels: m.Labels, Annotations: ann}
}

func cleanConfigMap(cm corev1.ConfigMap) corev1.ConfigMap {
	return corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: cleanMeta(cm.ObjectMeta),
		Immutable:  cm.Immutable,
		Data:       cm.Data,
		BinaryData: cm.BinaryData,
	}
}

func cleanSecret(s corev1.Secret) corev1.Secret {
	return corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: cleanMeta(s.ObjectMeta),
		Immutable:  s.Immutable,
		Type:       s.Type,
		Data:       s.Data,
	}
}

func configMapKeys(cm corev1.ConfigMap) []string {
	keys := slices.Collect(maps.Keys(cm.Data))
	keys = slices.AppendSeq(keys, maps.Keys(cm.BinaryData))
	slices.Sort(keys)
	return keys
}

func secretKeys(s corev1.Secret) []string {
	keys := slices.Collect(maps.Keys(s.Data))
	slices.Sort(keys)
	return keys
}
