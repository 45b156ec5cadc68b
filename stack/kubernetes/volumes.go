package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/aiuptime/aiuptime/stack"
)

// AnnotationVolumePrefix + purpose (models, data, config) on a pod names
// the mount path of its volume with that purpose, e.g.
// aiuptime.io/volume.models=/root/.cache/huggingface; without it the
// purpose's DefaultMounts path is used.
const AnnotationVolumePrefix = "aiuptime.io/volume."

// DefaultMounts are where the fixtures mount their volumes by purpose, as
// the docker provider's.
var DefaultMounts = map[string]string{stack.VolumeModels: "/models", stack.VolumeData: "/data", stack.VolumeConfig: "/app/config.yaml"}

// ErrOutsideRoots means a pod's volume lies outside every host path root
// the stack file allows: the harness never touches such a host path.
var ErrOutsideRoots = errors.New("volume outside the stack's host_path_roots")

// WithHostPathRoots allows disk faults, backups and restores on the host
// files of pod volumes beneath these directories (where the harness runs
// on the pod's node): hostPath volumes beneath a root, and emptyDir volumes
// of the kubelet whose --root-dir is beneath one. Without roots, Volume
// refuses: the harness never touches a host path it was not given.
func WithHostPathRoots(dirs ...string) Option {
	return func(o *options) error {
		for _, d := range dirs {
			if !filepath.IsAbs(d) || filepath.Clean(d) == "/" {
				return fmt.Errorf("host path root %q: want an absolute directory other than /", d)
			}
			o.hostRoots = append(o.hostRoots, filepath.Clean(d))
		}
		return nil
	}
}

// WithKubeletRootDir is the kubelet's --root-dir on this host (default
// /var/lib/kubelet): emptyDir volumes live under it.
func WithKubeletRootDir(dir string) Option {
	return func(o *options) error {
		if dir != "" && !filepath.IsAbs(dir) {
			return fmt.Errorf("kubelet root dir %q: want an absolute path", dir)
		}
		o.kubeletRoot = dir
		return nil
	}
}

var _ stack.Volumes = (*Stack)(nil)

// Volume implements stack.Volumes: the volume mounted in the service's pod
// at the purpose's path, with its files on this host. Only hostPath and
// emptyDir volumes have host files the harness can reach, and only
// beneath the stack's host path roots (WithHostPathRoots); a symbolic link
// on the way out of a root is refused.
func (s *Stack) Volume(ctx context.Context, service, purpose string) (stack.Volume, error) {
	_, pod, err := s.lookup(ctx, service)
	if err != nil {
		return stack.Volume{}, err
	}
	if len(s.o.hostRoots) == 0 {
		return stack.Volume{}, stack.Unsupported(Kind, fmt.Sprintf("volumes of %s: the stack file gives no kubernetes.host_path_roots, so no host path may be touched", service))
	}
	dest := mountPath(&pod, purpose)
	if dest == "" {
		return stack.Volume{}, fmt.Errorf("%s has no %s volume: %w", service, purpose, stack.ErrNotFound)
	}
	vm, ok := volumeMountAt(&pod, dest)
	if !ok {
		return stack.Volume{}, fmt.Errorf("%s: pod %s mounts nothing at %s (its %s volume): %w", service, pod.Name, dest, purpose, stack.ErrNotFound)
	}
	host, err := s.hostPathOf(&pod, vm.Name)
	if err != nil {
		return stack.Volume{}, fmt.Errorf("%s: pod %s volume %s: %w", service, pod.Name, vm.Name, err)
	}
	if vm.SubPath != "" {
		host = filepath.Join(host, filepath.Clean("/"+vm.SubPath))
	}
	if err := s.beneathRoots(host); err != nil {
		return stack.Volume{}, fmt.Errorf("%s: pod %s volume %s: %w", service, pod.Name, vm.Name, err)
	}
	return stack.Volume{Purpose: purpose, Name: vm.Name, HostPath: host, MountPath: dest, ReadOnly: vm.ReadOnly}, nil
}

func mountPath(p *corev1.Pod, purpose string) string {
	if v := p.Annotations[AnnotationVolumePrefix+purpose]; v != "" {
		return v
	}
	return DefaultMounts[purpose]
}

// volumeMountAt finds the first container's mount at dest.
func volumeMountAt(p *corev1.Pod, dest string) (corev1.VolumeMount, bool) {
	if len(p.Spec.Containers) == 0 {
		return corev1.VolumeMount{}, false
	}
	for _, vm := range p.Spec.Containers[0].VolumeMounts {
		if filepath.Clean(vm.MountPath) == filepath.Clean(dest) {
			return vm, true
		}
	}
	return corev1.VolumeMount{}, false
}

// hostPathOf says where the pod's volume name is on this host.
func (s *Stack) hostPathOf(p *corev1.Pod, name string) (string, error) {
	for _, v := range p.Spec.Volumes {
		if v.Name != name {
			continue
		}
		switch {
		case v.HostPath != nil:
			return filepath.Clean(v.HostPath.Path), nil
		case v.EmptyDir != nil:
			if v.EmptyDir.Medium == corev1.StorageMediumMemory {
				return "", errors.New("an emptyDir in memory has no host files the harness may touch")
			}
			root := s.o.kubeletRoot
			if root == "" {
				root = "/var/lib/kubelet"
			}
			return filepath.Join(root, "pods", string(p.UID), "volumes", "kubernetes.io~empty-dir", name), nil
		}
		return "", fmt.Errorf("only hostPath and emptyDir volumes have host files the harness can reach (%s)", volumeSource(v))
	}
	return "", fmt.Errorf("no such volume in the pod: %w", stack.ErrNotFound)
}

func volumeSource(v corev1.Volume) string {
	switch {
	case v.PersistentVolumeClaim != nil:
		return "a PersistentVolumeClaim " + v.PersistentVolumeClaim.ClaimName
	case v.ConfigMap != nil:
		return "a ConfigMap"
	case v.Secret != nil:
		return "a Secret"
	}
	return "another volume source"
}

// beneathRoots checks that host, with every symbolic link on its way
// resolved, lies beneath one of the stack's roots, and exists here.
func (s *Stack) beneathRoots(host string) error {
	real, err := filepath.EvalSymlinks(host)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s is not on this host (the harness must run on the pod's node): %w", host, stack.ErrUnsupported)
		}
		return fmt.Errorf("%s: %w", host, err)
	}
	for _, r := range s.o.hostRoots {
		rr, err := filepath.EvalSymlinks(r)
		if err != nil {
			continue
		}
		if real == rr || strings.HasPrefix(real, rr+string(filepath.Separator)) {
			if real != host {
				return fmt.Errorf("%s resolves through a symbolic link to %s: refused", host, real)
			}
			return nil
		}
	}
	return fmt.Errorf("%s is not beneath %s: %w", host, strings.Join(s.o.hostRoots, ", "), ErrOutsideRoots)
}
