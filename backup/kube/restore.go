package kube

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/aiuptime/aiuptime/backup"
)

// RestoreReport says what a restore did, without values.
type RestoreReport struct {
	Objects []Object `json:"objects"`
	Claims  []Claim  `json:"claims,omitempty"`
}

// Restore verifies the snapshot in dir (every checksum; nothing is
// touched when one is wrong) and puts its objects back into the namespace
// with update-or-create: a missing object is created, a different one
// updated, an equal one left alone. An object that does not match the
// selector, in the backup or live under the same name, is refused
// (ErrNotOwned) before anything is written. Objects the selector picks
// that the backup lacks are left alone. Claims in the snapshot are
// written back through a helper pod (restoreClaim) after the objects: the
// helper empties the claim and extracts the tar, so nothing else should
// write to it meanwhile (scale its users down first).
func (k *Kube) Restore(ctx context.Context, dir string) (*RestoreReport, error) {
	if err := k.checkOptIn(ctx); err != nil {
		return nil, err
	}
	m, err := backup.Verify(dir)
	if err != nil {
		return nil, fmt.Errorf("kubernetes restore: %w", err)
	}
	cms, secs, err := k.readObjects(dir, m)
	if err != nil {
		return nil, err
	}
	if err := k.checkLive(ctx, cms, secs); err != nil {
		return nil, err
	}
	rep := &RestoreReport{}
	for _, cm := range cms {
		o, err := k.upsertConfigMap(ctx, cm)
		if err != nil {
			return rep, err
		}
		rep.Objects = append(rep.Objects, o)
	}
	for _, s := range secs {
		o, err := k.upsertSecret(ctx, s)
		if err != nil {
			return rep, err
		}
		rep.Objects = append(rep.Objects, o)
	}
	for _, o := range rep.Objects {
		k.o.log.Info("restored", "kind", o.Kind, "name", o.Name, "keys", o.Keys, "action", o.Action)
	}
	for _, src := range m.Sources {
		if src.Kind != KindPVC {
			continue
		}
		c, err := k.restoreClaim(ctx, dir, m, src)
		if err != nil {
			return rep, err
		}
		rep.Claims = append(rep.Claims, c)
	}
	return rep, nil
}

// readObjects decodes the snapshot's ConfigMaps and Secrets, moved into
// this namespace, and proves each matches the selector.
func (k *Kube) readObjects(dir string, m *backup.Manifest) ([]corev1.ConfigMap, []corev1.Secret, error) {
	var cms []corev1.ConfigMap
	var secs []corev1.Secret
	for _, e := range m.Entries {
		if e.Source != SourceConfigMaps && e.Source != SourceSecrets {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(e.Path)))
		if err != nil {
			return nil, nil, fmt.Errorf("kubernetes restore: %w", err)
		}
		name := strings.TrimSuffix(path.Base(e.Path), ".yaml")
		if e.Source == SourceConfigMaps {
			var cm corev1.ConfigMap
			if err := yaml.UnmarshalStrict(b, &cm); err != nil {
				return nil, nil, fmt.Errorf("kubernetes restore: configmap %s: %w", name, err)
			}
			cm.Namespace = k.ns
			if err := k.owns("configmap", cm.Name, cm.Labels); err != nil {
				return nil, nil, fmt.Errorf("kubernetes restore: in the backup: %w", err)
			}
			cms = append(cms, cm)
			continue
		}
		var s corev1.Secret
		if err := yaml.UnmarshalStrict(b, &s); err != nil {
			// The decoder's message may quote the file: name the file only.
			return nil, nil, fmt.Errorf("kubernetes restore: secret %s: does not decode", name)
		}
		s.Namespace = k.ns
		if err := k.owns("secret", s.Name, s.Labels); err != nil {
			return nil, nil, fmt.Errorf("kubernetes restore: in the backup: %w", err)
		}
		secs = append(secs, s)
	}
	return cms, secs, nil
}

// checkLive refuses the restore when a live object under a backed-up name
// is not the stack's (does not match the selector).
func (k *Kube) checkLive(ctx context.Context, cms []corev1.ConfigMap, secs []corev1.Secret) error {
	for _, cm := range cms {
		live, err := k.cli.CoreV1().ConfigMaps(k.ns).Get(ctx, cm.Name, metav1.GetOptions{})
		if err == nil {
			err = k.owns("configmap", cm.Name, live.Labels)
		} else if apierrors.IsNotFound(err) {
			err = nil
		}
		if err != nil {
			return fmt.Errorf("kubernetes restore: live: %w", err)
		}
	}
	for _, s := range secs {
		live, err := k.cli.CoreV1().Secrets(k.ns).Get(ctx, s.Name, metav1.GetOptions{})
		if err == nil {
			err = k.owns("secret", s.Name, live.Labels)
		} else if apierrors.IsNotFound(err) {
			err = nil
		}
		if err != nil {
			return fmt.Errorf("kubernetes restore: live: %w", err)
		}
	}
	return nil
}

func (k *Kube) upsertConfigMap(ctx context.Context, cm corev1.ConfigMap) (Object, error) {
	o := Object{Kind: "ConfigMap", Name: cm.Name, Keys: configMapKeys(cm)}
	api := k.cli.CoreV1().ConfigMaps(k.ns)
	live, err := api.Get(ctx, cm.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := api.Create(ctx, &cm, metav1.CreateOptions{}); err != nil {
			return o, fmt.Errorf("create configmap %s/%s: %w", k.ns, cm.Name, err)
		}
		o.Action = ActionCreated
		return o, nil
	case err != nil:
		return o, fmt.Errorf("get configmap %s/%s: %w", k.ns, cm.Name, err)
	}
	if sameMeta(live.ObjectMeta, cm.ObjectMeta) && reflect.DeepEqual(live.Data, cm.Data) && reflect.DeepEqual(live.BinaryData, cm.BinaryData) {
		o.Action = ActionUnchanged
		return o, nil
	}
	cm.ResourceVersion = live.ResourceVersion
	if _, err := api.Update(ctx, &cm, metav1.UpdateOptions{}); err != nil {
		return o, fmt.Errorf("update configmap %s/%s: %w", k.ns, cm.Name, err)
	}
	o.Action = ActionUpdated
	return o, nil
}

// upsertSecret is upsertConfigMap for a Secret; its errors name it only
// (an API error about a Secret quotes no data, but stays short anyway).
func (k *Kube) upsertSecret(ctx context.Context, s corev1.Secret) (Object, error) {
	o := Object{Kind: "Secret", Name: s.Name, Keys: secretKeys(s)}
	api := k.cli.CoreV1().Secrets(k.ns)
	live, err := api.Get(ctx, s.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := api.Create(ctx, &s, metav1.CreateOptions{}); err != nil {
			return o, fmt.Errorf("create secret %s/%s: %w", k.ns, s.Name, reason(err))
		}
		o.Action = ActionCreated
		return o, nil
	case err != nil:
		return o, fmt.Errorf("get secret %s/%s: %w", k.ns, s.Name, reason(err))
	}
	if sameMeta(live.ObjectMeta, s.ObjectMeta) && live.Type == s.Type && reflect.DeepEqual(live.Data, s.Data) {
		o.Action = ActionUnchanged
		return o, nil
	}
	s.ResourceVersion = live.ResourceVersion
	if _, err := api.Update(ctx, &s, metav1.UpdateOptions{}); err != nil {
		return o, fmt.Errorf("update secret %s/%s: %w", k.ns, s.Name, reason(err))
	}
	o.Action = ActionUpdated
	return o, nil
}

// reason hides an API error's message (a validation message may quote
// what it refused) behind its status reason and code; errors.Is and
// errors.As still reach the original.
func reason(err error) error {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		return reasonError{err: err, text: fmt.Sprintf("%s (HTTP %d)", st.Status().Reason, st.Status().Code)}
	}
	return err
}

type reasonError struct {
	err  error
	text string
}

func (e reasonError) Error() string { return e.text }
func (e reasonError) Unwrap() error { return e.err }

// sameMeta compares labels and annotations (what the backup keeps).
func sameMeta(live, want metav1.ObjectMeta) bool {
	eq := func(a, b map[string]string) bool { return len(a) == 0 && len(b) == 0 || reflect.DeepEqual(a, b) }
	ann := live.Annotations
	if _, ok := ann[corev1.LastAppliedConfigAnnotation]; ok {
		ann = cleanMeta(live).Annotations
	}
	return eq(live.Labels, want.Labels) && eq(ann, want.Annotations)
}
