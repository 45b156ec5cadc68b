package disk

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/param"
	"github.com/aiuptime/aiuptime/stack"
)

// Fault kind names.
const (
	KindWipe     = "disk-wipe"
	KindCorrupt  = "disk-corrupt"
	KindReadOnly = "disk-readonly"
	KindFull     = "disk-full"
)

// MaxCorruptBytes bounds disk-corrupt's bytes param.
const MaxCorruptBytes = 1 << 20

var volumeParams = []param.Spec{
	{Name: "volume", Type: param.Enum, Enum: []string{stack.VolumeModels, stack.VolumeData}, Required: true,
		Doc: "which volume: models (a model server's weights) or data (the gateway's database)"},
	{Name: "path", Type: param.String, Doc: "a file or directory relative to the volume root (default: all of it)"},
}

func withParams(more ...param.Spec) []param.Spec {
	return append(append([]param.Spec(nil), volumeParams...), more...)
}

// decode reads the shared params and checks the path stays in the volume.
func decode(v param.Values) (Spec, error) {
	bytes := v.Size("bytes").Bytes()
	s := Spec{Volume: v.String("volume"), Path: v.String("path"), LeaveBytes: v.Size("leave_bytes").Bytes(), Bytes: int(min(bytes, MaxCorruptBytes+1))}
	return s, s.Validate()
}

var needs = []stack.Capability{stack.CapVolumes}

// kinds are the disk fault kinds: what sets them apart; they share the
// volume params, the decoding, the volumes capability and the audit.
var kinds = []struct {
	name, description string
	params            []param.Spec
	mechanisms        []string
	fault             func(Spec, Target, chaos.Deps) chaos.Fault
}{
	{KindWipe, "remove every file of a volume (recovery needs a DR restore; the journal keeps a snapshot)",
		volumeParams, []string{MechUnlink},
		func(s Spec, t Target, d chaos.Deps) chaos.Fault { return &Wipe{Spec: s, Target: t, Deps: d} }},
	{KindCorrupt, "flip bytes in the middle of one shard of a volume; revert writes the originals back",
		withParams(param.Spec{Name: "bytes", Type: param.Size, Default: strconv.Itoa(DefaultCorruptBytes), Positive: true,
			Unit: "bytes", Doc: "how many bytes to flip (at most 1MiB)"}), []string{MechByteFlip},
		func(s Spec, t Target, d chaos.Deps) chaos.Fault { return &Corrupt{Spec: s, Target: t, Deps: d} }},
	{KindReadOnly, "make a volume read-only inside the container (bind remount; immutable files where the mount is busy): writes fail",
		volumeParams, []string{MechRemount, MechImmutable},
		func(s Spec, t Target, d chaos.Deps) chaos.Fault { return &ReadOnly{Spec: s, Target: t, Deps: d} }},
	{KindFull, "fill a size-limited volume's filesystem to ENOSPC; revert deletes the filler",
		withParams(param.Spec{Name: "leave_bytes", Type: param.Size, Default: "0", Unit: "bytes", Doc: "space left free"}),
		[]string{MechFill},
		func(s Spec, t Target, d chaos.Deps) chaos.Fault { return &Full{Spec: s, Target: t, Deps: d} }},
}

func init() {
	for _, k := range kinds {
		chaos.Register(chaos.Def[Spec]{
			Name: k.name, Description: k.description, Params: k.params, Needs: needs, Mechanisms: k.mechanisms,
			Decode: decode,
			Build: func(ctx context.Context, env chaos.Env, svc stack.Service, s Spec) (chaos.Fault, error) {
				t, err := targetOf(ctx, env.Stack, svc.Name, s.Volume)
				return k.fault(s, t, env.Deps()), err
			},
			Audit: audit,
		})
	}
	chaos.RegisterStateReverter("disk/wipe", revertWipe)
	chaos.RegisterStateReverter("disk/corrupt", revertCorrupt)
	chaos.RegisterStateReverter("disk/readonly", revertReadOnly)
	chaos.RegisterStateReverter("disk/full", revertFull)
}

// audit reports what a disk fault may have left in a service's volumes: a
// read-only remount of a volume configured read-write, immutable files,
// and filler files.
func audit(ctx context.Context, env chaos.Env, svc stack.Service) []chaos.Finding {
	vs := env.Stack.(stack.Volumes)
	var fs []chaos.Finding
	for _, purpose := range []string{stack.VolumeModels, stack.VolumeData} {
		v, err := vs.Volume(ctx, svc.Name, purpose)
		if errors.Is(err, stack.ErrNotFound) || err != nil {
			continue
		}
		if !v.ReadOnly && v.PID > 0 {
			if ro, err := MountReadOnly(v.PID, v.MountPath); err == nil && ro {
				fs = append(fs, chaos.Finding{What: "readonly-mount", Where: svc.Name, Detail: v.MountPath + " is read-only inside the container but configured rw"})
			}
		}
		if imm, err := Immutable(v.HostPath); err == nil && len(imm) > 0 {
			fs = append(fs, chaos.Finding{What: "immutable-files", Where: svc.Name, Detail: fmt.Sprintf("%d immutable paths under %s (e.g. %s): chattr -i", len(imm), v.HostPath, imm[0])})
		}
		if fl, err := Fillers(v.HostPath); err == nil {
			for _, f := range fl {
				fs = append(fs, chaos.Finding{What: "filler", Where: svc.Name, Detail: f})
			}
		}
	}
	return fs
}
