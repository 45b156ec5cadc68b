package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/client"

	"github.com/aiuptime/aiuptime/reports"
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

func dbFile(dir, name string) (string, error) {
	if name != "" {
		return filepath.Join(dir, name), nil
	}
	m, _ := filepath.Glob(filepath.Join(dir, "*.db"))
	if len(m) != 1 {
		return "", fmt.Errorf("gateway data volume %s: want exactly one *.db file, found %d (set the database name)", dir, len(m))
	}
	return m[0], nil
}

// ForStack returns the sources of a whole-stack snapshot: the gateway's
// bind-mounted config files (found by inspecting its container), the stack
// file, every model volume, the gateway database (VACUUM INTO) and the other
// files of its data volume, and the system state (with each replica's golden
// answer).
func ForStack(ctx context.Context, st stack.Stack, docker client.APIClient, opts ...Option) ([]Source, error) {
	o := newOptions(opts)
	svcs, err := st.Services(ctx)
	if err != nil {
		return nil, fmt.Errorf("backup: list services: %w", err)
	}
	var src []Source
	seenVol := map[string]bool{}
	for _, s := range svcs {
		switch s.Role {
		case stack.RoleGateway:
			if s.Name != "gateway" {
				continue
			}
			if docker != nil && s.ContainerID != "" {
				ins, err := docker.ContainerInspect(ctx, s.ContainerID)
				if err != nil {
					return nil, fmt.Errorf("backup: inspect %s: %w", s.Name, err)
				}
				for _, m := range ins.Mounts {
					if m.Type != mount.TypeBind {
						continue
					}
					if fi, err := os.Stat(m.Source); err == nil && fi.Mode().IsRegular() {
						src = append(src, Files{ID: SourceGatewayConfig, Path: m.Source})
						break
					}
				}
			}
			if v, ok := s.Volume(stack.VolumeData); ok {
				db, err := dbFile(v.HostPath, o.dbName)
				if err != nil {
					return nil, err
				}
				base := filepath.Base(db)
				src = append(src, SQLite{ID: SourceGatewayDB, Path: db, SpendTable: SpendTable},
					Files{ID: SourceGatewayFiles, Path: v.HostPath, Skip: append(slices.Clone(volumeSkip), base, base+"-wal", base+"-shm", base+"-journal")})
			}
		case stack.RoleModel:
			v, ok := s.Volume(stack.VolumeModels)
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
	src = append(src, goldenState{State: State{ID: SourceState, Stack: st}, prompt: o.prompt, key: modelKey(st)})
	return src, nil
}

func modelKey(st stack.Stack) string {
	if k, ok := st.(interface{ ModelAPIKey() string }); ok {
		return k.ModelAPIKey()
	}
	return ""
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
func BackupStack(ctx context.Context, dir string, st stack.Stack, docker client.APIClient, opts ...Option) (*Manifest, error) {
	src, err := ForStack(ctx, st, docker, opts...)
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

func (o options) wants(part, svc string) bool {
	if len(o.only) == 0 {
		return true
	}
	return slices.Contains(o.only, part) || (svc != "" && slices.Contains(o.only, svc))
}

// Restore verifies the snapshot in dir (every checksum, before anything is
// touched) and restores it into st: model volumes whose files differ are
// refilled and their container restarted (one at a time), the gateway
// database is put back with the gateway stopped. It measures the RTO with
// phases (restore copy, model load, healthy, first token), the RPO (spend-log
// rows the live gateway had beyond the snapshot, and the time between the
// snapshot's newest row and the live newest row) and whether each replica's
// golden answer is identical to the one recorded at backup time.
func Restore(ctx context.Context, dir string, st stack.Stack, docker client.APIClient, opts ...Option) (*reports.DR, error) {
	o := newOptions(opts)
	m, err := Verify(dir)
	if err != nil {
		return nil, fmt.Errorf("restore refused, nothing touched: %w", err)
	}
	if docker == nil {
		return nil, fmt.Errorf("restore: %w: needs a Docker client", stack.ErrUnsupported)
	}
	start := time.Now()
	if o.disasterAt.IsZero() || o.disasterAt.After(start) {
		o.disasterAt = start
	}
	dr := &reports.DR{BackupDir: dir}
	dr.Notes = append(dr.Notes, fmt.Sprintf("backup taken %s (%.0fs before the restore), %d files, %d bytes",
		m.CreatedAt.Format(time.RFC3339), start.Sub(m.CreatedAt).Seconds(), len(m.Entries), m.Bytes))
	var copyDur, loadDur, healthyDur, tokenDur, dbDur time.Duration
	var firstToken time.Time
	stateInfo, _ := m.SourceInfo(SourceState)
	match := true
	checked := 0
	// Model volumes.
	for _, si := range m.Sources {
		name, ok := strings.CutPrefix(si.Name, ModelsPrefix)
		if !ok || !o.wants("models", name) {
			continue
		}
		svc, err := st.Service(ctx, name)
		if err != nil {
			return dr, fmt.Errorf("restore %s: %w", si.Name, err)
		}
		v, ok := svc.Volume(stack.VolumeModels)
		if !ok {
			return dr, fmt.Errorf("restore %s: no models volume", name)
		}
		same, err := sameFiles(m, si.Name, filepath.Join(dir, si.Name), v.HostPath)
		if err != nil {
			return dr, err
		}
		if same {
			dr.Notes = append(dr.Notes, name+": models intact, not restored")
			continue
		}
		t0 := time.Now()
		if err := refill(ctx, filepath.Join(dir, si.Name), v.HostPath); err != nil {
			return dr, fmt.Errorf("restore %s: %w", si.Name, err)
		}
		copyDur += time.Since(t0)
		t1 := time.Now()
		if err := docker.ContainerRestart(ctx, svc.ContainerID, container.StopOptions{}); err != nil {
			return dr, fmt.Errorf("restore %s: restart: %w", name, err)
		}
		loadDur += time.Since(t1)
		t2 := time.Now()
		svc, _ = st.Service(ctx, name)
		if err := rollout.WaitHealthy(ctx, svc, 5*time.Minute); err != nil {
			return dr, fmt.Errorf("restore %s: %w", name, err)
		}
		healthyDur += time.Since(t2)
		t3 := time.Now()
		a, err := rollout.Golden(ctx, svc, modelKey(st), o.prompt)
		if err != nil {
			return dr, fmt.Errorf("restore %s: first token: %w", name, err)
		}
		tokenDur += time.Since(t3)
		firstToken = time.Now()
		if want, ok := stateInfo.Meta["golden."+name]; ok {
			checked++
			if want != a {
				match = false
				dr.Notes = append(dr.Notes, fmt.Sprintf("%s: golden answer differs after the restore", name))
			}
		}
		o.log.Info("restored models", "service", name)
	}
	// Gateway config: put back where it was read when it differs, then
	// restart the gateway so it reads it.
	if ci, ok := m.SourceInfo(SourceGatewayConfig); ok && o.wants("config", "") {
		snap := filepath.Join(dir, SourceGatewayConfig, filepath.Base(ci.From))
		want, _, err := hashFile(snap)
		if err != nil {
			return dr, fmt.Errorf("restore gateway config: %w", err)
		}
		if got, _, err := hashFile(ci.From); err != nil || got != want {
			if err := copyFile(snap, ci.From); err != nil {
				return dr, fmt.Errorf("restore gateway config to %s: %w", ci.From, err)
			}
			gw, err := st.Service(ctx, "gateway")
			if err != nil {
				return dr, fmt.Errorf("restore gateway config: %w", err)
			}
			if err := docker.ContainerRestart(ctx, gw.ContainerID, container.StopOptions{}); err != nil {
				return dr, fmt.Errorf("restore gateway config: restart gateway: %w", err)
			}
			gw, _ = st.Service(ctx, "gateway")
			if err := rollout.WaitHealthy(ctx, gw, 2*time.Minute); err != nil {
				return dr, fmt.Errorf("restore gateway config: %w", err)
			}
			dr.Notes = append(dr.Notes, "gateway config restored and the gateway restarted")
		}
	}
	// Gateway data.
	if dbi, ok := m.SourceInfo(SourceGatewayDB); ok && o.wants("data", "") {
		t0 := time.Now()
		rows, lostSecs, err := restoreDB(ctx, dir, m, dbi, st, docker, o)
		if err != nil {
			return dr, err
		}
		dbDur = time.Since(t0)
		dr.RPORows = &rows
		dr.RPOSeconds = &lostSecs
		firstToken = time.Now()
	}
	if checked > 0 {
		dr.GoldenPromptMatch = &match
	} else if len(stateInfo.Meta) > 0 {
		// Nothing restarted: still check every replica answers as recorded.
		svcs, _ := st.Services(ctx)
		for _, s := range svcs {
			want, ok := stateInfo.Meta["golden."+s.Name]
			if !ok {
				continue
			}
			a, err := rollout.Golden(ctx, s, modelKey(st), o.prompt)
			if err != nil || a != want {
				match = false
			}
			checked++
		}
		if checked > 0 {
			dr.GoldenPromptMatch = &match
		}
	}
	if firstToken.IsZero() {
		firstToken = time.Now()
	}
	rto := firstToken.Sub(o.disasterAt).Seconds()
	dr.RTOSeconds = &rto
	dr.Phases = []reports.Phase{
		{Name: "detection to restore start", Seconds: start.Sub(o.disasterAt).Seconds()},
		{Name: "restore copy", Seconds: copyDur.Seconds()},
		{Name: "model load", Seconds: loadDur.Seconds()},
		{Name: "healthy", Seconds: healthyDur.Seconds()},
		{Name: "first token", Seconds: tokenDur.Seconds()},
	}
	if dbDur > 0 {
		dr.Phases = append(dr.Phases, reports.Phase{Name: "gateway data (stop, copy, start, healthy)", Seconds: dbDur.Seconds()})
	}
	return dr, nil
}

// sameFiles reports whether the live dir holds exactly the snapshot's files
// of source (by size and sha256).
func sameFiles(m *Manifest, source, snapDir, live string) (bool, error) {
	n := 0
	for _, e := range m.Entries {
		if e.Source != source {
			continue
		}
		n++
		rel := strings.TrimPrefix(e.Path, source+"/")
		sum, size, err := hashFile(filepath.Join(live, filepath.FromSlash(rel)))
		if err != nil || sum != e.SHA256 || size != e.Size {
			return false, nil
		}
	}
	return n > 0, nil
}

// refill replaces the contents of live (but lost+found) with src.
func refill(ctx context.Context, src, live string) error {
	ents, err := os.ReadDir(live)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if slices.Contains(volumeSkip, e.Name()) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(live, e.Name())); err != nil {
			return err
		}
	}
	return copyTree(ctx, src, live, nil)
}

func restoreDB(ctx context.Context, dir string, m *Manifest, dbi SourceInfo, st stack.Stack, docker client.APIClient, o options) (int64, float64, error) {
	gw, err := st.Service(ctx, "gateway")
	if err != nil {
		return 0, 0, fmt.Errorf("restore gateway data: %w", err)
	}
	v, ok := gw.Volume(stack.VolumeData)
	if !ok {
		return 0, 0, fmt.Errorf("restore gateway data: the gateway has no data volume")
	}
	// Rows the live gateway holds (written before the restore).
	live, lerr := GatewayDB(ctx, gw, st.APIKey())
	base := filepath.Base(dbi.From)
	snapDB := filepath.Join(dir, SourceGatewayDB, base)
	bRows, bLast, err := SpendStats(ctx, snapDB, SpendTable)
	if err != nil {
		return 0, 0, err
	}
	timeout := 10
	if err := docker.ContainerStop(ctx, gw.ContainerID, container.StopOptions{Timeout: &timeout}); err != nil {
		return 0, 0, fmt.Errorf("restore gateway data: stop gateway: %w", err)
	}
	// After the stop the gateway has flushed: a second count would need it
	// running; the count before the stop is the live state.
	started := false
	defer func() {
		if !started {
			_ = docker.ContainerStart(context.WithoutCancel(ctx), gw.ContainerID, container.StartOptions{})
		}
	}()
	for _, suf := range []string{"", "-wal", "-shm", "-journal"} {
		if err := os.Remove(filepath.Join(v.HostPath, base+suf)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, 0, fmt.Errorf("restore gateway data: %w", err)
		}
	}
	if err := copyFile(snapDB, filepath.Join(v.HostPath, base)); err != nil {
		return 0, 0, fmt.Errorf("restore gateway data: %w", err)
	}
	if _, ok := m.SourceInfo(SourceGatewayFiles); ok {
		if err := copyTree(ctx, filepath.Join(dir, SourceGatewayFiles), v.HostPath, nil); err != nil {
			return 0, 0, fmt.Errorf("restore gateway files: %w", err)
		}
	}
	if err := docker.ContainerStart(ctx, gw.ContainerID, container.StartOptions{}); err != nil {
		return 0, 0, fmt.Errorf("restore gateway data: start gateway: %w", err)
	}
	started = true
	gw, _ = st.Service(ctx, "gateway")
	if err := rollout.WaitHealthy(ctx, gw, 2*time.Minute); err != nil {
		return 0, 0, fmt.Errorf("restore gateway data: %w", err)
	}
	if lerr != nil {
		return 0, 0, fmt.Errorf("restore gateway data: count live rows: %w", lerr)
	}
	lost := max(live.Rows-bRows, 0)
	var secs float64
	if live.LastWrite != nil {
		if t, err := time.Parse(time.RFC3339Nano, bLast); err == nil {
			secs = max(live.LastWrite.Sub(t).Seconds(), 0)
		} else if bLast == "" {
			secs = max(live.LastWrite.Sub(m.CreatedAt).Seconds(), 0)
		}
	}
	o.log.Info("restored gateway database", "rows_in_backup", bRows, "rows_live", live.Rows, "rows_lost", lost)
	return lost, secs, nil
}

// sortedSources lists a manifest's source names (for the CLI).
func sortedSources(m *Manifest) []string {
	var out []string
	for _, s := range m.Sources {
		out = append(out, s.Name+" ("+s.Kind+", "+strconv.Itoa(count(m, s.Name))+" files)")
	}
	sort.Strings(out)
	return out
}

func count(m *Manifest, src string) int {
	n := 0
	for _, e := range m.Entries {
		if e.Source == src {
			n++
		}
	}
	return n
}

// Describe lists a manifest's sources with their kinds and file counts.
func (m *Manifest) Describe() []string { return sortedSources(m) }
