// Package disk injects disk faults on a service's volume (a model volume or
// the gateway's data volume): wipe, corrupt, read-only and full.
package disk

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/internal/procfs"
	"github.com/aiuptime/aiuptime/param"
	"github.com/aiuptime/aiuptime/stack"
)

// Mechanisms of disk faults.
const (
	MechUnlink   = "unlink"
	MechByteFlip = "byteflip"
	MechRemount  = "bind-remount-ro"
	MechFill     = "fallocate"
)

// FillerPrefix starts the name of the filler file of disk-full; doctor looks for it.
const FillerPrefix = ".aiuptime-fill-"

// DefaultCorruptBytes is how many bytes disk-corrupt flips.
const DefaultCorruptBytes = 64

// Spec is the params shared by every disk fault.
type Spec struct {
	// Volume is stack.VolumeModels or stack.VolumeData.
	Volume string `json:"volume"`
	// Path is relative to the volume root (optional): a subdirectory for
	// wipe, a file (or directory to pick a shard from) for corrupt.
	Path string `json:"path,omitempty"`
	// LeaveBytes is how much space disk-full leaves free.
	LeaveBytes int64 `json:"leave_bytes,omitempty"`
	// Bytes is how many bytes disk-corrupt flips (default DefaultCorruptBytes).
	Bytes int `json:"bytes,omitempty"`
}

// Validate checks the params; an error is a *param.Error naming the param.
func (s Spec) Validate() error {
	if s.Volume != stack.VolumeModels && s.Volume != stack.VolumeData {
		return &param.Error{Param: "volume", Msg: fmt.Sprintf("%q must be %s or %s", s.Volume, stack.VolumeModels, stack.VolumeData)}
	}
	if filepath.IsAbs(s.Path) || strings.Contains(filepath.Clean("/"+s.Path), "..") || (s.Path != "" && strings.HasPrefix(filepath.Clean(s.Path), "..")) {
		return &param.Error{Param: "path", Msg: fmt.Sprintf("%q must be relative to the volume and stay inside it", s.Path)}
	}
	if s.LeaveBytes < 0 {
		return &param.Error{Param: "leave_bytes", Msg: fmt.Sprintf("%d must not be negative", s.LeaveBytes)}
	}
	if s.Bytes < 0 || s.Bytes > MaxCorruptBytes {
		return &param.Error{Param: "bytes", Msg: fmt.Sprintf("%d is outside 0..%d", s.Bytes, MaxCorruptBytes)}
	}
	return nil
}

// Target is the volume a disk fault acts on.
type Target struct {
	Service string `json:"service"`
	// PID is the container's main process on the host (read-only needs it).
	PID      int    `json:"pid,omitempty"`
	PIDStart uint64 `json:"pid_start,omitempty"`
	// HostPath is the volume's directory on the host.
	HostPath string `json:"host_path"`
	// MountPath is where the container sees it.
	MountPath string `json:"mount_path,omitempty"`
}

// targetOf asks the stack for the service's volume with the purpose.
func targetOf(ctx context.Context, st stack.Stack, service, purpose string) (Target, error) {
	vs, ok := st.(stack.Volumes)
	if !ok {
		return Target{}, fmt.Errorf("volume: %w", chaos.ErrUnsupported)
	}
	v, err := vs.Volume(ctx, service, purpose)
	if err != nil {
		return Target{}, fmt.Errorf("volume: %w", err)
	}
	return Target{Service: service, PID: v.PID, PIDStart: v.PIDStart, HostPath: v.HostPath, MountPath: v.MountPath}, nil
}

func (t Target) root(rel string) (string, error) {
	if t.HostPath == "" || !filepath.IsAbs(t.HostPath) {
		return "", fmt.Errorf("volume of %s: host path %q is not absolute", t.Service, t.HostPath)
	}
	if filepath.Clean(t.HostPath) == "/" {
		return "", fmt.Errorf("volume of %s: refusing the host root directory", t.Service)
	}
	p := filepath.Join(t.HostPath, filepath.Clean("/"+rel))
	return p, nil
}

// pathOf checks s and returns the host path of s.Path in the volume.
func (t Target) pathOf(s Spec) (string, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	return t.root(s.Path)
}

func (t Target) pidGone() bool { return t.PID <= 0 || !procfs.Alive(t.PID, t.PIDStart) }
