package drill

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aiuptime/aiuptime/backup"
	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/reports"
)

func actBackup(ctx context.Context, env *ActionEnv, step plan.Step) (*ActionOutcome, error) {
	v, err := params(step)
	if err != nil {
		return nil, err
	}
	dir := v.String("dir")
	if dir == "" {
		dir = filepath.Join(env.StateDir, "backups", time.Now().UTC().Format("20060102T150405.000000000Z"))
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("backup: %s exists and is not empty", dir)
	}
	m, err := backup.BackupStack(ctx, dir, env.Stack, backup.WithLogger(env.Log))
	if err != nil {
		return nil, err
	}
	env.Shared.Store(SharedLastBackup, dir)
	env.Shared.Store(SharedBackupAt, m.CreatedAt)
	dr := &reports.DR{BackupDir: dir, Notes: []string{fmt.Sprintf("backup: %d files, %d bytes in %.2fs (%.1f MiB/s)",
		len(m.Entries), m.Bytes, m.Seconds, float64(m.Bytes)/(1<<20)/max(m.Seconds, 1e-9))}}
	return &ActionOutcome{DR: dr, Detail: fmt.Sprintf("backup of %d files (%d bytes) in %s", len(m.Entries), m.Bytes, dir)}, nil
}

// disasterAt finds when the disaster happened, as the probe saw it: the
// start of the first one-second window with failed requests after the
// backup; else, when the gateway routed around it (no failure seen), the end
// of the last window in which the backend that stopped serving earliest
// still answered (if it stopped more than two seconds ago). Zero if neither.
func disasterAt(env *ActionEnv, now time.Time) (time.Time, string) {
	v, ok := env.Shared.Load(SharedBackupAt)
	if !ok || env.Traffic == nil {
		return time.Time{}, ""
	}
	from := v.(time.Time)
	for t := from; t.Before(now); t = t.Add(time.Second) {
		if env.Traffic.Stats(t, t.Add(time.Second), "", true).Failed > 0 {
			return t, "the first failed request after the backup"
		}
	}
	var earliest time.Time
	var who string
	for _, b := range env.Traffic.Backends() {
		var last time.Time
		for t := from; t.Before(now); t = t.Add(time.Second) {
			if env.Traffic.Stats(t, t.Add(time.Second), b, false).Total > 0 {
				last = t.Add(time.Second)
			}
		}
		if !last.IsZero() && (earliest.IsZero() || last.Before(earliest)) {
			earliest, who = last, b
		}
	}
	if !earliest.IsZero() && now.Sub(earliest) > 2*time.Second {
		return earliest, "the last request " + who + " answered before it stopped serving (the gateway routed around it)"
	}
	return time.Time{}, ""
}

func actRestore(ctx context.Context, env *ActionEnv, step plan.Step) (*ActionOutcome, error) {
	v, err := params(step)
	if err != nil {
		return nil, err
	}
	dir := v.String("dir")
	if dir == "" {
		last, ok := env.Shared.Load(SharedLastBackup)
		if !ok {
			return nil, fmt.Errorf("restore: no backup taken earlier in this drill and no dir param: %w", backup.ErrNotFound)
		}
		dir = last.(string)
	}
	opts := []backup.Option{backup.WithLogger(env.Log)}
	var only []string
	if o := v.String("only"); o != "" && o != "all" {
		only = append(only, o)
	}
	names, err := targetNames(ctx, env, step)
	if err != nil {
		return nil, err
	}
	if only = append(only, names...); len(only) > 0 {
		opts = append(opts, backup.WithOnly(only...))
	}
	note := "RTO measured from the restore's start (no failed request and no backend stopping seen after the backup)"
	if t, why := disasterAt(env, time.Now()); !t.IsZero() {
		opts = append(opts, backup.WithDisasterAt(t))
		note = "RTO measured from " + why + " (" + t.UTC().Format(time.RFC3339Nano) + ")"
	}
	dr, err := backup.Restore(ctx, dir, env.Stack, opts...)
	if err != nil {
		return nil, err
	}
	dr.Notes = append(dr.Notes, note)
	o := &ActionOutcome{DR: dr, Detail: "restored " + dir}
	if dr.RTOSeconds != nil {
		o.Detail += fmt.Sprintf(", RTO %.2fs", *dr.RTOSeconds)
	}
	if dr.RPORows != nil {
		o.Detail += fmt.Sprintf(", RPO %d rows / %.2fs", *dr.RPORows, *dr.RPOSeconds)
	}
	if dr.GoldenPromptMatch != nil && !*dr.GoldenPromptMatch {
		o.Failed = true
		o.Detail += ", golden prompt changed"
	}
	return o, nil
}
