package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aiuptime/aiuptime/internal/procfs"
	"github.com/aiuptime/aiuptime/internal/statedir"
	"github.com/aiuptime/aiuptime/stack"
)

// DefaultStateDir is where the journal and snapshots live unless
// WithStateDir or the AIUPTIME_STATE_DIR environment variable says otherwise.
const DefaultStateDir = statedir.Default

// StateDirEnv names the environment variable that overrides DefaultStateDir.
const StateDirEnv = statedir.Env

// DefaultRevertTimeout bounds one revert.
const DefaultRevertTimeout = 30 * time.Second

// Record is one journaled injection: everything a later process needs to
// revert it without the process that injected it.
type Record struct {
	// ID is unique per injection; it names the journal file.
	ID string `json:"id"`
	// RunID is the aiuptime.run label of the stack under test (may be empty for attached stacks).
	RunID string `json:"run_id,omitempty"`
	// Kind is the fault kind (network-delay, disk-full, ...).
	Kind string `json:"kind"`
	// Target is the service name the fault acts on.
	Target string `json:"target"`
	// Reverter names the registered function that undoes State (see RegisterReverter).
	Reverter string `json:"reverter"`
	// Mechanism is how the fault was applied (netem, tbf, nftables, toxiproxy, ...).
	Mechanism string `json:"mechanism,omitempty"`
	// Note is a human hint, e.g. that recovery needs a DR restore step.
	Note string `json:"note,omitempty"`
	// Created is when the record was written, before the fault was applied.
	Created time.Time `json:"created"`
	// Owner is the pid of the process that injected, OwnerStart its start
	// time (clock ticks since boot) and OwnerBoot the boot id: together
	// they tell a live owner from a recycled pid (OwnerAlive).
	Owner      int    `json:"owner"`
	OwnerStart uint64 `json:"owner_start,omitempty"`
	OwnerBoot  string `json:"owner_boot,omitempty"`
	// Labels are carried by every container of the stack the fault acts on
	// (its run label, or the attached compose project or selector): a
	// replay acts only on objects that provably belong to them.
	Labels map[string]string `json:"labels,omitempty"`
	// Sealed says State is encrypted and authenticated with the state
	// directory's journal key (it holds secrets, e.g. a container's
	// environment): only this state directory's journal can open it.
	Sealed bool `json:"sealed,omitempty"`
	// State is the reverter's input: device, netns path, container pid and id,
	// nft table, original bytes, snapshot path, ...
	State json.RawMessage `json:"state"`
}

// OwnerIdent is the identity of the process that injected.
func (r Record) OwnerIdent() procfs.Ident {
	return procfs.Ident{PID: r.Owner, Start: r.OwnerStart, Boot: r.OwnerBoot}
}

// OwnerAlive reports whether the process that injected still runs (same
// boot, same pid, same start time): its faults are its own to revert, and
// `drill cleanup` leaves them alone. A record of an older version without
// start time and boot id counts as alive while its pid exists.
func (r Record) OwnerAlive() bool { return r.OwnerIdent().Alive() }

// Option configures a Journal, a Guard or Replay.
type Option func(*options) error

type options struct {
	stateDir string
	log      *slog.Logger
	timeout  time.Duration
	run      string
	force    bool
	prover   stack.Prover
	// runDefault and labels fill records journaled without them.
	runDefault string
	labels     map[string]string
}

func buildOptions(opts []Option) (options, error) {
	o := options{stateDir: StateDir(), log: slog.New(slog.DiscardHandler), timeout: DefaultRevertTimeout}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// WithStateDir sets the state directory (the journal is its journal/ subdirectory).
func WithStateDir(dir string) Option {
	return func(o *options) error {
		if dir == "" {
			return errors.New("state dir: empty path")
		}
		o.stateDir = dir
		return nil
	}
}

// WithLogger sets the structured logger.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l != nil {
			o.log = l
		}
		return nil
	}
}

// WithRevertTimeout bounds each revert (default DefaultRevertTimeout).
func WithRevertTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("revert timeout: %v is not positive", d)
		}
		o.timeout = d
		return nil
	}
}

// WithRun limits Replay to the records of one run.
func WithRun(id string) Option {
	return func(o *options) error {
		if id == "" {
			return errors.New("run: empty id")
		}
		o.run = id
		return nil
	}
}

// WithRunLabels makes the journal fill records written without a run id
// or labels with these: a drill opens its journal with its run and its
// stack's ownership labels, so every record it writes carries them.
func WithRunLabels(run string, labels map[string]string) Option {
	return func(o *options) error { o.runDefault, o.labels = run, labels; return nil }
}

// WithForce makes Replay revert the records of the run chosen by WithRun
// even while their owner still runs (it may be a hung drill).
func WithForce() Option {
	return func(o *options) error { o.force = true; return nil }
}

// WithProver sets how Replay proves what a record's owner holds (default:
// the prover stack/dockerhost registers).
func WithProver(p stack.Prover) Option {
	return func(o *options) error { o.prover = p; return nil }
}

// StateDir returns the state directory from AIUPTIME_STATE_DIR or DefaultStateDir.
func StateDir() string { return statedir.Dir() }

// JournalDir returns the journal directory inside a state directory.
func JournalDir(stateDir string) string { return filepath.Join(stateDir, "journal") }

// Journal is the crash-safe revert journal: one fsync'd JSON file per live
// injection in <state dir>/journal. A nil *Journal journals nothing.
type Journal struct {
	dir      string
	stateDir string
	log      *slog.Logger
	timeout  time.Duration
	run      string
	labels   map[string]string
}

// OpenJournal creates (if needed) and opens the journal in the state dir.
// The state dir and the journal must belong to this user and be writable by
// nobody else (created 0700); otherwise the error names the dir and the
// problem (statedir.ErrUnsafe, exit code 2).
func OpenJournal(opts ...Option) (*Journal, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	dir, err := statedir.Sub(o.stateDir, "journal")
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	return &Journal{dir: dir, stateDir: o.stateDir, log: o.log, timeout: o.timeout, run: o.runDefault, labels: o.labels}, nil
}

// Dir is the journal directory.
func (j *Journal) Dir() string {
	if j == nil {
		return ""
	}
	return j.dir
}

// StateDir is the state directory; faults keep snapshots under it.
func (j *Journal) StateDir() string {
	if j == nil {
		return ""
	}
	return j.stateDir
}

// NewID returns a fresh record id.
func NewID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

// Write stores rec durably (temp file, fsync, rename, fsync of the directory).
func (j *Journal) Write(rec Record) error {
	if j == nil {
		return nil
	}
	if rec.ID == "" || strings.ContainsAny(rec.ID, "/\\") {
		return fmt.Errorf("journal write: bad id %q", rec.ID)
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("journal write %s: %w", rec.ID, err)
	}
	final := filepath.Join(j.dir, rec.ID+".json")
	tmp := final + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("journal write %s: %w", rec.ID, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("journal write %s: %w", rec.ID, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("journal fsync %s: %w", rec.ID, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("journal write %s: %w", rec.ID, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("journal write %s: %w", rec.ID, err)
	}
	return syncDir(j.dir)
}

// Remove deletes a record; a missing record is success.
func (j *Journal) Remove(id string) error {
	if j == nil {
		return nil
	}
	if err := os.Remove(filepath.Join(j.dir, id+".json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("journal remove %s: %w", id, err)
	}
	return syncDir(j.dir)
}

// List returns the records left in the journal, oldest first.
func (j *Journal) List() ([]Record, error) {
	if j == nil {
		return nil, nil
	}
	return ListRecords(j.dir)
}

// BadFile is a journal file that is no readable record.
type BadFile struct {
	Name string
	Err  error
}

// Scan is what a journal directory holds: its records, oldest first, and
// the files that are no readable record.
type Scan struct {
	Records []Record
	Bad     []BadFile
}

// ScanJournal reads every record in a journal directory; a file that is
// no readable record (bad JSON, no id, an id that does not match its
// name) is listed in Bad and stops nothing. A missing directory holds no
// records.
func ScanJournal(dir string) (Scan, error) {
	var sc Scan
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return sc, nil
	}
	if err != nil {
		return sc, fmt.Errorf("list journal: %w", err)
	}
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		r, err := readRecord(filepath.Join(dir, e.Name()))
		if err != nil {
			sc.Bad = append(sc.Bad, BadFile{Name: e.Name(), Err: err})
			continue
		}
		sc.Records = append(sc.Records, r)
	}
	sort.SliceStable(sc.Records, func(a, b int) bool { return sc.Records[a].Created.Before(sc.Records[b].Created) })
	return sc, nil
}

func readRecord(path string) (Record, error) {
	var r Record
	b, err := os.ReadFile(path)
	if err != nil {
		return r, fmt.Errorf("read journal record: %w", err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("decode journal record: %w", err)
	}
	if name := strings.TrimSuffix(filepath.Base(path), ".json"); r.ID != name {
		return r, fmt.Errorf("journal record %s holds id %q", filepath.Base(path), r.ID)
	}
	return r, nil
}

// ListRecords reads every record in a journal directory, oldest first. A
// missing directory holds no records; files that are no readable record
// are skipped and named in the error.
func ListRecords(dir string) ([]Record, error) {
	sc, err := ScanJournal(dir)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, b := range sc.Bad {
		errs = append(errs, fmt.Errorf("%s: %w", b.Name, b.Err))
	}
	return sc.Records, errors.Join(errs...)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync journal dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync journal dir: %w", err)
	}
	return nil
}

// Entry is one live journaled injection.
type Entry struct {
	j   *Journal
	rec Record
}

// Begin writes rec (with a fresh ID if empty) and fsyncs it. Call it BEFORE
// applying the fault. state is marshalled into rec.State.
func (j *Journal) Begin(rec Record, state any) (*Entry, error) {
	if rec.ID == "" {
		rec.ID = NewID()
	}
	if rec.Created.IsZero() {
		rec.Created = time.Now().UTC()
	}
	if j != nil && rec.RunID == "" {
		rec.RunID = j.run
	}
	if j != nil && rec.Labels == nil {
		rec.Labels = j.labels
	}
	owner, err := procfs.Self()
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", rec.Kind, err)
	}
	rec.Owner, rec.OwnerStart, rec.OwnerBoot = owner.PID, owner.Start, owner.Boot
	if _, ok := lookupReverter(rec.Reverter); !ok {
		return nil, fmt.Errorf("journal %s: no reverter registered as %q", rec.Kind, rec.Reverter)
	}
	if err := j.encode(&rec, state); err != nil {
		return nil, err
	}
	if err := j.Write(rec); err != nil {
		return nil, err
	}
	return &Entry{j: j, rec: rec}, nil
}

// Record returns the journaled record.
func (e *Entry) Record() Record { return e.rec }

// Update rewrites the record with new state (e.g. after a recreated
// container got a new id), again fsync'd.
func (e *Entry) Update(state any) error {
	if err := e.j.encode(&e.rec, state); err != nil {
		return err
	}
	return e.j.Write(e.rec)
}

// UpdateRecord changes record fields (e.g. the mechanism after a fallback)
// and the state, and rewrites the record durably.
func (e *Entry) UpdateRecord(edit func(*Record), state any) error {
	if edit != nil {
		edit(&e.rec)
	}
	return e.Update(state)
}

// scope is what rec may act on, for an in-process revert (not verified:
// this process wrote the record).
func (j *Journal) scope(rec Record) Scope {
	sc := Scope{Run: rec.RunID, RecordID: rec.ID, Labels: rec.Labels}
	if j != nil {
		sc.StateDir = j.stateDir
	}
	return sc
}

// Revert returns the Revert for this entry: it runs the registered reverter
// on the (latest) journaled state under context.WithoutCancel with the
// journal's timeout, at most once successfully (later calls return nil), and
// removes the record after success. A failure is a *RevertError.
func (e *Entry) Revert() Revert {
	var mu sync.Mutex
	done := false
	return func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return nil
		}
		timeout := DefaultRevertTimeout
		log := slog.New(slog.DiscardHandler)
		if e.j != nil {
			timeout, log = e.j.timeout, e.j.log
		}
		if err := runReverter(ctx, e.rec, timeout, e.j.scope(e.rec)); err != nil {
			return err
		}
		if err := e.j.Remove(e.rec.ID); err != nil {
			return &RevertError{Fault: e.rec.Kind, Target: e.rec.Target, Err: err}
		}
		log.Info("reverted", "kind", e.rec.Kind, "target", e.rec.Target, "mechanism", e.rec.Mechanism, "id", e.rec.ID)
		done = true
		return nil
	}
}
