package drill

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aiuptime/aiuptime/backup"
	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/rollout"
	"github.com/aiuptime/aiuptime/stack"
)

// The actions that update a release (rolling-update, model-update,
// blue-green, canary, gateway-update) take a verified backup before they
// touch anything, and restore models and configuration from it after an
// automatic rollback.
//
// Which stacks are backed up: the backup reads the stack's volumes on this
// host (stack.Volumes). The containers and docker stacks have them; a
// kubernetes stack has them only when its stack file gives
// kubernetes.host_path_roots (hostPath and emptyDir volumes beneath them,
// on the node the harness runs on), and refuses with ErrUnsupported
// otherwise; an endpoints stack has none. backup/kube backs up a
// namespace's ConfigMaps, Secrets and claims, but through its own command,
// not the drill's actions. A stack that cannot be backed up is not a
// failed update: the rollout's report says no backup was taken and why.

// Keys of ActionEnv.Shared kept by the update actions.
const (
	// SharedUpdateBackup is the directory of the last backup an update
	// took before it started (string).
	SharedUpdateBackup = "backup.before_update"
	// SharedModelVersion is the model version the run's last completed or
	// promoted update moved to (string): validate accepts a changed golden
	// answer after it.
	SharedModelVersion = "rollout.model_version"
)

// DefaultRestoreTimeout bounds the restore after an automatic rollback
// when the step has no timeout of its own.
const DefaultRestoreTimeout = 5 * time.Minute

// restoreParts are what a restore after an automatic rollback puts back:
// never the gateway's data, whose restore stops the gateway (an outage
// the rollback just avoided) and loses the requests logged since.
var restoreParts = []string{"models", "config"}

// withBackup wraps an update action with its backup before and its
// restore after an automatic rollback.
func withBackup(act ActionFunc) ActionFunc {
	return func(ctx context.Context, env *ActionEnv, step plan.Step) (*ActionOutcome, error) {
		v, err := params(step)
		if err != nil {
			return nil, err
		}
		ref := &reports.BackupRef{Note: "not taken: the step opts out (backup: false)"}
		dir := ""
		if v.Bool("backup") {
			if ref, dir, err = updateBackup(ctx, env); err != nil {
				return backupFailed(step, ref, err), nil
			}
		}
		out, aerr := act(ctx, env, step)
		if out == nil || out.Rollout == nil {
			return out, aerr
		}
		out.Rollout.Backup = ref
		if dir != "" {
			out.Detail += fmt.Sprintf("; backup before it: %s (%d files, verified)", dir, ref.Files)
		}
		if ver := v.String("version"); ver != "" && (out.Rollout.Decision == rollout.DecisionCompleted || out.Rollout.Decision == rollout.DecisionPromoted) {
			env.Shared.Store(SharedModelVersion, ver)
		}
		if dir != "" && rolledBackAutomatically(step.Action, out.Rollout) {
			restoreAfterRollback(ctx, env, dir, ref, out)
		}
		return out, aerr
	}
}

// updateBackup takes and verifies the backup before an update. A stack
// that cannot be backed up gives a note and no directory; a backup that
// fails or does not verify is an error.
func updateBackup(ctx context.Context, env *ActionEnv) (*reports.BackupRef, string, error) {
	st := env.Stack
	if !stack.Has(st, stack.CapVolumes) {
		return &reports.BackupRef{Note: fmt.Sprintf("not taken: the %s stack has no volumes capability, nothing on this host to back up", st.Kind())}, "", nil
	}
	dir := filepath.Join(env.StateDir, "backups", time.Now().UTC().Format("20060102T150405.000000000Z")+"-before-update")
	start := time.Now()
	m, err := backup.BackupStack(ctx, dir, st, backup.WithLogger(env.Log))
	if errors.Is(err, stack.ErrUnsupported) {
		_ = os.RemoveAll(dir) // the partial snapshot of a stack that cannot be backed up
		return &reports.BackupRef{Note: "not taken: " + err.Error()}, "", nil
	}
	if err != nil {
		return &reports.BackupRef{Dir: dir, Note: "failed: " + err.Error()}, "", fmt.Errorf("backup before the update: %w", err)
	}
	ref := &reports.BackupRef{Dir: dir, TakenAt: m.CreatedAt, Files: len(m.Entries), Bytes: m.Bytes}
	if _, err := backup.Verify(dir); err != nil {
		ref.Seconds, ref.Note = time.Since(start).Seconds(), "did not verify: "+err.Error()
		return ref, "", fmt.Errorf("backup before the update did not verify: %w", err)
	}
	ref.Seconds, ref.Verified = time.Since(start).Seconds(), true
	keepUpdateBackup(env, dir, m.CreatedAt)
	return ref, dir, nil
}

// keepUpdateBackup records the backup for validate (its golden answers)
// and, when no backup step took one earlier in this drill, as the drill's
// last backup.
//
// Why not always: a plan with a backup step and a later restore step
// measures its RPO (rows and seconds lost) and its disaster time against
// that backup: the rows written between the two are what it sets out to
// measure, and the restore puts back what that step saved. An update in
// between must not move the restore point under it: its backup holds
// whatever a fault before it did (a wiped or corrupted volume), and it
// would shrink the RPO window the plan designed. Without a backup step,
// the latest pre-update backup is the drill's only restore point, the one
// an operator would restore from, so a restore without dir uses it and
// its RPO counts from it.
func keepUpdateBackup(env *ActionEnv, dir string, at time.Time) {
	prev, hadUpdate := env.Shared.Load(SharedUpdateBackup)
	last, hadLast := env.Shared.Load(SharedLastBackup)
	env.Shared.Store(SharedUpdateBackup, dir)
	if !hadLast || (hadUpdate && last == prev) {
		env.Shared.Store(SharedLastBackup, dir)
		env.Shared.Store(SharedBackupAt, at)
	}
}

// backupFailed is the outcome of an update that did not start because
// its backup failed: a failed step with an aborted rollout, nothing
// touched.
func backupFailed(step plan.Step, ref *reports.BackupRef, err error) *ActionOutcome {
	rep := &reports.Rollout{Kind: step.Action, Target: targetString(step.Target), Decision: rollout.DecisionAborted, Backup: ref,
		Evidence: []string{"not started: the backup before it failed, nothing was touched"}}
	return &ActionOutcome{Rollout: rep, Failed: true, Detail: fmt.Sprintf("%s not started: %v", step.Action, err)}
}

// rolledBackAutomatically is whether the update rolled itself back after a
// failed check (a blue-green's rollback_after is planned, not automatic).
func rolledBackAutomatically(kind string, rep *reports.Rollout) bool {
	return rep.Decision == rollout.DecisionRolledBack && kind != "blue-green"
}

// restoreAfterRollback restores models and configuration from the backup
// taken before the update, within the step's time, and reports which of
// its files differed.
func restoreAfterRollback(ctx context.Context, env *ActionEnv, dir string, ref *reports.BackupRef, out *ActionOutcome) {
	res := &reports.BackupRestore{Parts: restoreParts, Changed: []string{}}
	ref.Restored = res
	if !stack.Has(env.Stack, stack.CapLifecycle) {
		res.Error = fmt.Sprintf("the %s stack cannot restart services: not restored", env.Stack.Kind())
		out.Detail += "; " + res.Error
		return
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultRestoreTimeout)
		defer cancel()
	}
	start := time.Now()
	opts := []backup.Option{backup.WithLogger(env.Log), backup.WithOnly(restoreParts...)}
	changed, err := backup.Changed(ctx, dir, env.Stack, opts...)
	if err == nil {
		res.Changed = append(res.Changed, changed...)
		var dr *reports.DR
		if dr, err = backup.Restore(ctx, dir, env.Stack, opts...); dr != nil {
			res.GoldenPromptMatch = dr.GoldenPromptMatch
		}
	}
	res.Seconds = time.Since(start).Seconds()
	what := "nothing differed"
	if len(res.Changed) > 0 {
		what = fmt.Sprintf("%d files differed and were put back", len(res.Changed))
	}
	switch {
	case err != nil:
		res.Error = err.Error()
		out.Failed = true
		out.Detail += "; restoring models and config from the backup failed: " + err.Error()
	case res.GoldenPromptMatch != nil && !*res.GoldenPromptMatch:
		out.Failed = true
		out.Detail += "; restored models and config from the backup (" + what + "), but the golden prompt answers differently than at backup time"
	default:
		out.Detail += "; restored models and config from the backup: " + what
	}
	out.Rollout.Evidence = append(out.Rollout.Evidence, "after the automatic rollback: models and config restored from "+dir+": "+what)
}
