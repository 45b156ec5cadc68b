package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/aiuptime/aiuptime/files"
	"github.com/aiuptime/aiuptime/rollout"
	"github.com/aiuptime/aiuptime/stack"
)

// Source names used for a stack snapshot.
const (
	SourceGatewayConfig = "config-gateway"
	SourceStackFile     = "config-stack"
	SourceGatewayDB     = "gateway-db"
	SourceGatewayFiles  = "gateway-files"
	SourceState         = "state"
	ModelsPrefix        = "models-"
	// SpendTable is LiteLLM's spend-log table.
	SpendTable = "LiteLLM_SpendLogs"
)

// skipped in volumes: filesystem bookkeeping and the live database files.
var volumeSkip = []string{"lost+found"}

// Option configures ForStack and Restore.
type Option func(*options)

type options struct {
	log        *slog.Logger
	stackFile  string
	dbName     string
	disasterAt time.Time
	only       []string
	prompt     string
}

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithStackFile adds the stack file to the snapshot's configuration.
func WithStackFile(p string) Option { return func(o *options) { o.stackFile = p } }

// WithDatabaseName sets the gateway database's file name in its data volume
// (default: the only *.db file there).
func WithDatabaseName(n string) Option { return func(o *options) { o.dbName = n } }

// WithDisasterAt sets when the disaster happened, the start of the RTO
// (default: the start of the restore).
func WithDisasterAt(t time.Time) Option { return func(o *options) { o.disasterAt = t } }

// WithOnly restricts a restore to these parts: "models", "data", "config",
// or a service name (its models).
func WithOnly(parts ...string) Option { return func(o *options) { o.only = parts } }

func newOptions(opts []Option) options {
	o := options{log: slog.New(slog.DiscardHandler), prompt: rollout.DefaultGoldenPrompt}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// dbFile finds the gateway database in its data volume dir: a regular
// file directly in it (a link planted there is refused: a backup never
// reads through one).
func dbFile(dir, name string) (string, error) {
	if name == "" {
		m, _ := filepath.Glob(filepath.Join(dir, "*.db"))
		if len(m) != 1 {
			return "", fmt.Errorf("gateway data volume %s: want exactly one *.db file, found %d (set the database name)", dir, len(m))
		}
		name = filepath.Base(m[0])
	}
	root, err := files.OpenRoot(dir)
	if err != nil {
		return "", fmt.Errorf("gateway data volume: %w", err)
	}
	defer root.Close()
	fi, err := root.Lstat(name)
	if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		err = &fs.PathError{Op: "backup", Path: name, Err: files.ErrSymlink}
	}
	if err != nil {
		return "", fmt.Errorf("gateway data volume %s: %w", dir, err)
	}
	return filepath.Join(dir, name), nil
}

// volume returns the service's volume with the purpose, ok false when it
// has none (or the stack hands out no volumes).
func volume(ctx context.Context, st stack.Stack, service, purpose string) (stack.Volume, bool, error) {
	vs, ok := st.(stack.Volumes)
	if !ok {
		return stack.Volume{}, false, nil
	}
	v, err := vs.Volume(ctx, service, purpose)
	if errors.Is(err, stack.ErrNotFound) {
		return v, false, nil
	}
	if err != nil {
		return v, false, fmt.Errorf("backup: %s volume of %s: %w", purpose, service, err)
	}
	return v, true, nil
}

// ForStack returns the sources of a whole-stack snapshot: the gateway's
// config file, the stack file, every model volume, the gateway database
// (VACUUM INTO) and the other files of its data volume, and the system
// state (with each replica's golden answer). Volumes come from the stack's
// volumes capability.
func ForStack(ctx context.Context, st stack.Stack, opts ...Option) ([]Source, error) {
	o := newOptions(opts)
	svcs, err := st.Services(ctx)
	if err != nil {
		return nil, fmt.Errorf("backup: list services: %w", err)
	}
	var src []Source
	seenVol := map[string]bool{}
	for _, s := range svcs {
		switch {
		case s.Role == stack.RoleGateway && s.Name == "gateway":
			more, err := gatewaySources(ctx, st, s, o)
			if err != nil {
				return nil, err
			}
			src = append(src, more...)
		case s.Role == stack.RoleModel:
			v, ok, err := volume(ctx, st, s.Name, stack.VolumeModels)
			if err != nil {
				return nil, err
			}
			if !ok || seenVol[v.HostPath] {
				continue
			}
			seenVol[v.HostPath] = true
			src = append(src, Files{ID: ModelsPrefix + s.Name, Path: v.HostPath, Skip: volumeSkip})
		}
	}
	if o.stackFile != "" {
		src = append(src, Files{ID: SourceStackFile, Path: o.stackFile})
	}
	src = append(src, goldenState{State: State{ID: SourceState, Stack: st}, prompt: o.prompt, key: stack.ModelAPIKey(st)})
	return src, nil
}

// gatewaySources are the gateway's config file and its data volume: the
// database (copied consistently while it serves) and the other files.
func gatewaySources(ctx context.Context, st stack.Stack, gw stack.Service, o options) ([]Source, error) {
	var src []Source
	if v, ok, err := volume(ctx, st, gw.Name, stack.VolumeConfig); err != nil {
		return nil, err
	} else if ok {
		if fi, err := os.Stat(v.HostPath); err == nil && fi.Mode().IsRegular() {
			src = append(src, Files{ID: SourceGatewayConfig, Path: v.HostPath})
		}
	}
	v, ok, err := volume(ctx, st, gw.Name, stack.VolumeData)
	if err != nil || !ok {
		return src, err
	}
	db, err := dbFile(v.HostPath, o.dbName)
	if err != nil {
		return nil, err
	}
	base := filepath.Base(db)
	return append(src, SQLite{ID: SourceGatewayDB, Path: db, SpendTable: SpendTable},
		Files{ID: SourceGatewayFiles, Path: v.HostPath, Skip: append(slices.Clone(volumeSkip), base, base+"-wal", base+"-shm", base+"-journal")}), nil
}

// goldenState is State plus each replica's golden answer in its meta.
type goldenState struct {
	State
	prompt, key string
}

func (g goldenState) Collect(ctx context.Context, dir string) (SourceInfo, error) {
	info, err := g.State.Collect(ctx, dir)
	if err != nil {
		return info, err
	}
	info.Meta = map[string]string{}
	svcs, err := g.Stack.Services(ctx)
	if err != nil {
		return info, err
	}
	for _, s := range svcs {
		if s.Role != stack.RoleModel {
			continue
		}
		if a, err := rollout.Golden(ctx, s, g.key, g.prompt); err == nil {
			info.Meta["golden."+s.Name] = a
		}
	}
	return info, nil
}

// BackupStack snapshots st into dir: ForStack's sources, origin "kind/runid".
func BackupStack(ctx context.Context, dir string, st stack.Stack, opts ...Option) (*Manifest, error) {
	src, err := ForStack(ctx, st, opts...)
	if err != nil {
		return nil, err
	}
	return Snapshot(ctx, dir, st.Kind()+"/"+st.RunID(), src...)
}

// DBStatus is the fixture gateway's GET /admin/db answer (spend-log rows and
// newest row time); LiteLLM answers the same question with /spend/logs.
type DBStatus struct {
	Rows      int64      `json:"spend_log_rows"`
	LastWrite *time.Time `json:"last_write"`
}

// GatewayDB asks the gateway for its spend-log row count.
func GatewayDB(ctx context.Context, gw stack.Service, key string) (DBStatus, error) {
	var s DBStatus
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, gw.URL+"/admin/db", nil)
	if err != nil {
		return s, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return s, fmt.Errorf("gateway db status: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("gateway db status: %d", resp.StatusCode)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("gateway db status: %w", err)
	}
	return s, nil
}
