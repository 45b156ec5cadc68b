package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aiuptime/aiuptime/files"
	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/rollout"
	"github.com/aiuptime/aiuptime/stack"
)

func (o options) wants(part, svc string) bool {
	if len(o.only) == 0 {
		return true
	}
	return slices.Contains(o.only, part) || (svc != "" && slices.Contains(o.only, svc))
}

// restore is one restore under way: the stack, the verified snapshot and
// the phases measured so far.
type restore struct {
	ctx   context.Context
	dir   string
	m     *Manifest
	st    stack.Stack
	lc    stack.Lifecycle
	o     options
	dr    *reports.DR
	state SourceInfo

	copyDur, loadDur, healthyDur, tokenDur, dbDur time.Duration
	firstToken                                    time.Time
	match                                         bool
	checked                                       int
}

// Restore verifies the snapshot in dir (every checksum, before anything is
// touched) and restores it into st through its volumes and lifecycle
// capabilities: model volumes whose files differ are refilled and their
// service restarted (one at a time), a drifted gateway config is put back
// and the gateway restarted, the gateway database is put back with the
// gateway stopped. It measures the RTO with phases (restore copy, model
// load, healthy, first token), the RPO (spend-log rows the live gateway had
// beyond the snapshot, and the time between the snapshot's newest row and
// the live newest row) and whether each replica's golden answer is
// identical to the one recorded at backup time.
func Restore(ctx context.Context, dir string, st stack.Stack, opts ...Option) (*reports.DR, error) {
	o := newOptions(opts)
	m, err := Verify(dir)
	if err != nil {
		return nil, fmt.Errorf("restore refused, nothing touched: %w", err)
	}
	lc, ok := st.(stack.Lifecycle)
	if _, vok := st.(stack.Volumes); !ok || !vok {
		return nil, fmt.Errorf("restore: the %s stack has no volumes or lifecycle capability: %w", st.Kind(), stack.ErrUnsupported)
	}
	start := time.Now()
	if o.disasterAt.IsZero() || o.disasterAt.After(start) {
		o.disasterAt = start
	}
	r := &restore{ctx: ctx, dir: dir, m: m, st: st, lc: lc, o: o, dr: &reports.DR{BackupDir: dir}, match: true}
	r.dr.Notes = append(r.dr.Notes, fmt.Sprintf("backup taken %s (%.0fs before the restore), %d files, %d bytes",
		m.CreatedAt.Format(time.RFC3339), start.Sub(m.CreatedAt).Seconds(), len(m.Entries), m.Bytes))
	r.state, _ = m.SourceInfo(SourceState)
	for _, step := range []func() error{r.models, r.config, r.data, r.golden} {
		if err := step(); err != nil {
			return r.dr, err
		}
	}
	if r.firstToken.IsZero() {
		r.firstToken = time.Now()
	}
	rto := r.firstToken.Sub(o.disasterAt).Seconds()
	r.dr.RTOSeconds = &rto
	r.dr.Phases = []reports.Phase{
		{Name: "detection to restore start", Seconds: start.Sub(o.disasterAt).Seconds()},
		{Name: "restore copy", Seconds: r.copyDur.Seconds()},
		{Name: "model load", Seconds: r.loadDur.Seconds()},
		{Name: "healthy", Seconds: r.healthyDur.Seconds()},
		{Name: "first token", Seconds: r.tokenDur.Seconds()},
	}
	if r.dbDur > 0 {
		r.dr.Phases = append(r.dr.Phases, reports.Phase{Name: "gateway data (stop, copy, start, healthy)", Seconds: r.dbDur.Seconds()})
	}
	return r.dr, nil
}

// models refills each model volume whose files differ and restarts its
// service, timing copy, load, health and first token.
func (r *restore) models() error {
	for _, si := range r.m.Sources {
		name, ok := strings.CutPrefix(si.Name, ModelsPrefix)
		if !ok || !r.o.wants("models", name) {
			continue
		}
		v, ok, err := volume(r.ctx, r.st, name, stack.VolumeModels)
		if err != nil {
			return fmt.Errorf("restore %s: %w", si.Name, err)
		}
		if !ok {
			return fmt.Errorf("restore %s: no models volume", name)
		}
		same, err := sameFiles(r.m, si.Name, v.HostPath)
		if err != nil {
			return err
		}
		if same {
			r.dr.Notes = append(r.dr.Notes, name+": models intact, not restored")
			continue
		}
		if err := r.refillModels(name, si.Name, v.HostPath); err != nil {
			return err
		}
	}
	return nil
}

func (r *restore) refillModels(name, source, live string) error {
	t0 := time.Now()
	if err := refill(r.ctx, filepath.Join(r.dir, source), live); err != nil {
		return fmt.Errorf("restore %s: %w", source, err)
	}
	r.copyDur += time.Since(t0)
	t1 := time.Now()
	if err := r.lc.Act(r.ctx, name, stack.Action{Op: stack.OpRestart, Timeout: 10 * time.Second}); err != nil {
		return fmt.Errorf("restore %s: restart: %w", name, err)
	}
	r.loadDur += time.Since(t1)
	t2 := time.Now()
	svc, err := r.addressed(name, 5*time.Minute)
	if err != nil {
		return fmt.Errorf("restore %s: %w", name, err)
	}
	if err := rollout.WaitHealthy(r.ctx, svc, 5*time.Minute); err != nil {
		return fmt.Errorf("restore %s: %w", name, err)
	}
	r.healthyDur += time.Since(t2)
	t3 := time.Now()
	a, err := rollout.Golden(r.ctx, svc, stack.ModelAPIKey(r.st), r.o.prompt)
	if err != nil {
		return fmt.Errorf("restore %s: first token: %w", name, err)
	}
	r.tokenDur += time.Since(t3)
	r.firstToken = time.Now()
	if want, ok := r.state.Meta["golden."+name]; ok {
		r.checked++
		if want != a {
			r.match = false
			r.dr.Notes = append(r.dr.Notes, fmt.Sprintf("%s: golden answer differs after the restore", name))
		}
	}
	r.o.log.Info("restored models", "service", name)
	return nil
}

// config puts the gateway config back into the stack's live config file
// when it differs (never through a link: the file's directory is opened as
// a root), then restarts the gateway so it reads it.
func (r *restore) config() error {
	ci, ok := r.m.SourceInfo(SourceGatewayConfig)
	if !ok || !r.o.wants("config", "") {
		return nil
	}
	v, ok, err := volume(r.ctx, r.st, "gateway", stack.VolumeConfig)
	if err != nil {
		return fmt.Errorf("restore gateway config: %w", err)
	}
	if !ok {
		r.dr.Notes = append(r.dr.Notes, "gateway config in the backup, but the stack mounts none: not restored")
		return nil
	}
	snap := filepath.Join(r.dir, SourceGatewayConfig, filepath.Base(ci.From))
	want, _, err := hashFile(snap)
	if err != nil {
		return fmt.Errorf("restore gateway config: %w", err)
	}
	dir, err := files.OpenRoot(filepath.Dir(v.HostPath))
	if err != nil {
		return fmt.Errorf("restore gateway config: %w", err)
	}
	defer dir.Close()
	name := filepath.Base(v.HostPath)
	if got, _, err := hashIn(dir, name); err == nil && got == want {
		return nil
	}
	if err := copyIn(snap, dir, name); err != nil {
		return fmt.Errorf("restore gateway config to %s: %w", v.HostPath, err)
	}
	if err := r.lc.Act(r.ctx, "gateway", stack.Action{Op: stack.OpRestart, Timeout: 10 * time.Second}); err != nil {
		return fmt.Errorf("restore gateway config: restart gateway: %w", err)
	}
	if err := r.waitGateway(); err != nil {
		return fmt.Errorf("restore gateway config: %w", err)
	}
	r.dr.Notes = append(r.dr.Notes, "gateway config restored and the gateway restarted")
	return nil
}

// copyIn copies the file src to rel beneath dst (mode: src's, writable by
// its owner), refusing a link at rel.
func copyIn(src string, dst *files.Root, rel string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	return dst.WriteFrom(rel, in, st.Mode().Perm()|0o600)
}

func (r *restore) waitGateway() error {
	gw, err := r.st.Service(r.ctx, "gateway")
	if err != nil {
		return err
	}
	return rollout.WaitHealthy(r.ctx, gw, 2*time.Minute)
}

// data puts the gateway database back and measures the RPO.
func (r *restore) data() error {
	dbi, ok := r.m.SourceInfo(SourceGatewayDB)
	if !ok || !r.o.wants("data", "") {
		return nil
	}
	// Putting the database back needs the gateway stopped and started
	// again; a provider that cannot start a service (kubernetes: a pod is
	// deleted, never started) keeps its data, and the report says why there
	// is no RPO. Checked before anything is stopped.
	if ol, ok := r.lc.(stack.OpLister); ok {
		if ops := ol.Ops(); !slices.Contains(ops, stack.OpStop) || !slices.Contains(ops, stack.OpStart) {
			r.dr.Notes = append(r.dr.Notes, fmt.Sprintf("gateway data not restored, so no RPO: the %s stack cannot stop and start the gateway (it can %v)", r.st.Kind(), ops))
			return nil
		}
	}
	t0 := time.Now()
	rows, lostSecs, err := r.restoreDB(dbi)
	if err != nil {
		return err
	}
	r.dbDur = time.Since(t0)
	r.dr.RPORows = &rows
	r.dr.RPOSeconds = &lostSecs
	r.firstToken = time.Now()
	return nil
}

// golden records whether every replica answers the golden prompt as it did
// at backup time (checking them now when no restart did).
func (r *restore) golden() error {
	if r.checked == 0 && len(r.state.Meta) > 0 {
		svcs, _ := r.st.Services(r.ctx)
		for _, s := range svcs {
			want, ok := r.state.Meta["golden."+s.Name]
			if !ok {
				continue
			}
			a, err := rollout.Golden(r.ctx, s, stack.ModelAPIKey(r.st), r.o.prompt)
			if err != nil || a != want {
				r.match = false
			}
			r.checked++
		}
	}
	if r.checked > 0 {
		match := r.match
		r.dr.GoldenPromptMatch = &match
	}
	return nil
}

// sameFiles reports whether the live dir holds exactly the snapshot's files
// of source (by size and sha256), reading them beneath it without
// following links (a link counts as a difference).
func sameFiles(m *Manifest, source, live string) (bool, error) {
	root, err := files.OpenRoot(live)
	if err != nil {
		return false, fmt.Errorf("restore %s: %w", source, err)
	}
	defer root.Close()
	n := 0
	for _, e := range m.Entries {
		if e.Source != source {
			continue
		}
		n++
		rel := strings.TrimPrefix(e.Path, source+"/")
		sum, size, err := hashIn(root, filepath.FromSlash(rel))
		if err != nil || sum != e.SHA256 || size != e.Size {
			return false, nil
		}
	}
	return n > 0, nil
}

// refill replaces the contents of live (but lost+found) with src; live is
// opened as a root, so nothing is removed or written through a link.
func refill(ctx context.Context, src, live string) error {
	keep := map[string]bool{}
	for _, k := range volumeSkip {
		keep[k] = true
	}
	dst, err := files.OpenRoot(live)
	if err != nil {
		return err
	}
	defer dst.Close()
	if err := dst.Empty(".", keep); err != nil {
		return fmt.Errorf("empty %s: %w", live, err)
	}
	from, err := files.OpenRoot(src)
	if err != nil {
		return err
	}
	defer from.Close()
	return files.CopyTreeAt(ctx, from, ".", dst, ".", files.TreeOptions{KeepModes: true})
}

func (r *restore) restoreDB(dbi SourceInfo) (int64, float64, error) {
	ctx := r.ctx
	gw, err := r.st.Service(ctx, "gateway")
	if err != nil {
		return 0, 0, fmt.Errorf("restore gateway data: %w", err)
	}
	v, ok, err := volume(ctx, r.st, gw.Name, stack.VolumeData)
	if err != nil || !ok {
		return 0, 0, fmt.Errorf("restore gateway data: the gateway has no data volume: %v", err)
	}
	// Rows the live gateway holds (written before the restore).
	live, lerr := GatewayDB(ctx, gw, r.st.APIKey())
	base := filepath.Base(dbi.From)
	snapDB := filepath.Join(r.dir, SourceGatewayDB, base)
	bRows, bLast, err := SpendStats(ctx, snapDB, SpendTable)
	if err != nil {
		return 0, 0, err
	}
	if err := r.lc.Act(ctx, gw.Name, stack.Action{Op: stack.OpStop, Timeout: 10 * time.Second}); err != nil {
		return 0, 0, fmt.Errorf("restore gateway data: stop gateway: %w", err)
	}
	// After the stop the gateway has flushed: a second count would need it
	// running; the count before the stop is the live state.
	started := false
	defer func() {
		if !started {
			_ = r.lc.Act(context.WithoutCancel(ctx), gw.Name, stack.Action{Op: stack.OpStart})
		}
	}()
	if err := r.replaceDB(v.HostPath, base, snapDB); err != nil {
		return 0, 0, err
	}
	if err := r.lc.Act(ctx, gw.Name, stack.Action{Op: stack.OpStart}); err != nil {
		return 0, 0, fmt.Errorf("restore gateway data: start gateway: %w", err)
	}
	started = true
	if err := r.waitGateway(); err != nil {
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
			secs = max(live.LastWrite.Sub(r.m.CreatedAt).Seconds(), 0)
		}
	}
	r.o.log.Info("restored gateway database", "rows_in_backup", bRows, "rows_live", live.Rows, "rows_lost", lost)
	return lost, secs, nil
}

// replaceDB swaps the live database files in volume dir for the
// snapshot's, beneath dir opened as a root: links there are removed, never
// followed, and nothing is written through one.
func (r *restore) replaceDB(dir, base, snapDB string) error {
	vol, err := files.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("restore gateway data: %w", err)
	}
	defer vol.Close()
	for _, suf := range []string{"", "-wal", "-shm", "-journal"} {
		if err := vol.Remove(base + suf); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("restore gateway data in %s: %w", dir, err)
		}
	}
	if err := copyIn(snapDB, vol, base); err != nil {
		return fmt.Errorf("restore gateway data in %s: %w", dir, err)
	}
	if _, ok := r.m.SourceInfo(SourceGatewayFiles); ok {
		src, err := files.OpenRoot(filepath.Join(r.dir, SourceGatewayFiles))
		if err != nil {
			return fmt.Errorf("restore gateway files: %w", err)
		}
		defer src.Close()
		if err := files.CopyTreeAt(r.ctx, src, ".", vol, ".", files.TreeOptions{KeepModes: true}); err != nil {
			return fmt.Errorf("restore gateway files: %w", err)
		}
	}
	return nil
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

// addressed re-reads the service until it has an address: a restart that
// replaces it (a Kubernetes pod delete) leaves it without one until the
// new pod is scheduled and its network set up.
func (r *restore) addressed(name string, timeout time.Duration) (stack.Service, error) {
	ctx, cancel := context.WithTimeout(r.ctx, timeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		svc, err := r.st.Service(ctx, name)
		if err == nil && svc.URL != "" {
			return svc, nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("%s has no address after %v", name, timeout)
			}
			return stack.Service{}, err
		case <-tick.C:
		}
	}
}
