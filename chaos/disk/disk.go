// Package disk injects disk faults on a service's volume (a model volume or
// the gateway's data volume): wipe, corrupt, read-only and full.
package disk

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/files"
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
	// wipe, a file (or directory to pick a shard from) for corrupt. It is
	// resolved beneath the root without following symbolic links.
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
	if _, err := files.Clean(s.Path); err != nil {
		return &param.Error{Param: "path", Msg: fmt.Sprintf("%q must be relative to the volume root and stay beneath it (no absolute path, no .. leaving it)", s.Path)}
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

// root returns the host path of rel in the volume (for messages and
// journaled state; every action resolves rel beneath the open root).
func (t Target) root(rel string) (string, error) {
	if t.HostPath == "" || !filepath.IsAbs(t.HostPath) {
		return "", fmt.Errorf("volume of %s: host path %q is not absolute", t.Service, t.HostPath)
	}
	if filepath.Clean(t.HostPath) == "/" {
		return "", fmt.Errorf("volume of %s: refusing the host root directory", t.Service)
	}
	clean, err := files.Clean(rel)
	if err != nil {
		return "", fmt.Errorf("volume of %s: path %q: %w", t.Service, rel, err)
	}
	return filepath.Join(t.HostPath, clean), nil
}

// beneath opens the volume root and checks rel in it: it must resolve
// beneath the root without a symbolic link, and hold none below it. A
// volume with a link there is refused before anything is changed. It
// returns the root (to close) and rel cleaned.
func (t Target) beneath(kind, rel string, log *slog.Logger) (*files.Root, string, error) {
	if _, err := t.root(rel); err != nil {
		return nil, "", fmt.Errorf("%s: %w", kind, err)
	}
	clean, _ := files.Clean(rel)
	r, err := files.OpenRoot(t.HostPath, files.WithLogger(log))
	if err != nil {
		return nil, "", fmt.Errorf("%s on %s: %w", kind, t.Service, err)
	}
	if err := refuseLinks(r, clean); err != nil {
		r.Close()
		return nil, "", fmt.Errorf("%s on %s: volume %s: %w", kind, t.Service, t.HostPath, err)
	}
	return r, clean, nil
}

// refuseLinks walks rel beneath r and fails, naming the first, if it holds
// a symbolic link that leaves the volume: an absolute target (it means a
// path in the container, not on the host) or a relative one that climbs
// out. Links that stay inside, like a Hugging Face cache's
// snapshots/x -> ../../blobs/y, are kept; no disk fault ever follows a link.
func refuseLinks(r *files.Root, rel string) error {
	var links []string
	err := r.Walk(rel, func(e *files.Entry) error {
		if e.IsSymlink() && !linkStaysInside(e) {
			links = append(links, e.Path())
		}
		return nil
	})
	if err != nil || len(links) == 0 {
		return err
	}
	err = &fs.PathError{Op: "check", Path: links[0], Err: files.ErrSymlink}
	if len(links) > 1 {
		return fmt.Errorf("%w (and %d more links)", err, len(links)-1)
	}
	return err
}

// linkStaysInside reports whether a link's target, taken relative to the
// link's own directory, names a path beneath the volume root.
func linkStaysInside(e *files.Entry) bool {
	target, err := e.Readlink()
	if err != nil || filepath.IsAbs(target) {
		return false
	}
	_, err = files.Clean(filepath.Join(filepath.Dir(e.Path()), target))
	return err == nil
}

// openBeneath opens the volume root a journaled state recorded and returns
// p (a host path in it) relative to it. State journaled before the volume
// was recorded (volume "") takes p's directory, or p itself when dir, as
// the root. A volume that is gone is fs.ErrNotExist.
func openBeneath(volume, p string, dir bool) (*files.Root, string, error) {
	if volume == "" {
		volume = filepath.Dir(p)
		if dir {
			volume = p
		}
	}
	rel, err := filepath.Rel(volume, p)
	if err == nil {
		rel, err = files.Clean(rel)
	}
	if err != nil {
		return nil, "", fmt.Errorf("journaled path %s is not beneath volume %s: %w", p, volume, files.ErrOutside)
	}
	r, err := files.OpenRoot(volume)
	return r, rel, err
}

func (t Target) pidGone() bool { return t.PID <= 0 || !procfs.Alive(t.PID, t.PIDStart) }
