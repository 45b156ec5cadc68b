package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sync"
	"time"
)

// Mechanismer is implemented by faults that can say how they act (netem,
// tbf, nftables, toxiproxy, linkdown, docker, ...). Reports print it.
type Mechanismer interface{ Mechanism() string }

// Describer is implemented by faults that can list exactly what Inject
// would do, for --dry-run.
type Describer interface {
	Describe(ctx context.Context) ([]string, error)
}

// MechanismOf returns f's mechanism, or "" if it does not say.
func MechanismOf(f Fault) string {
	if m, ok := f.(Mechanismer); ok {
		return m.Mechanism()
	}
	return ""
}

// Guard injects faults and guarantees their revert on success, failure,
// context cancellation (Ctrl-C, SIGTERM via signal.NotifyContext) and panic.
// Faults journal themselves (chaos.Journal) so a SIGKILL is covered by Replay.
type Guard struct {
	log     *slog.Logger
	timeout time.Duration

	mu     sync.Mutex
	active []*Injection
}

// NewGuard returns a Guard. Options: WithLogger, WithRevertTimeout.
func NewGuard(opts ...Option) (*Guard, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	return &Guard{log: o.log, timeout: o.timeout}, nil
}

// Injection is one applied fault held by a Guard.
type Injection struct {
	Fault Fault
	// Mechanism is how the fault acted (from Mechanismer), after Inject.
	Mechanism string
	// Injected is how long Inject took.
	Injected time.Duration
	// Reverted is how long the revert took (after Revert).
	Reverted time.Duration

	g      *Guard
	revert Revert
	once   sync.Mutex
	done   bool
}

// Inject applies f and keeps its revert until Revert or RevertAll. On an
// inject error the half-applied fault is reverted before returning.
func (g *Guard) Inject(ctx context.Context, f Fault) (inj *Injection, err error) {
	inj = &Injection{Fault: f, g: g}
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			rerr := inj.Revert(ctx)
			panic(fmt.Sprintf("%v (revert after panic: %v)", p, rerr))
		}
	}()
	rev, ierr := f.Inject(ctx)
	inj.Injected = time.Since(start)
	inj.Mechanism = MechanismOf(f)
	if rev == nil {
		rev = NoRevert
	}
	inj.revert = rev
	if ierr != nil && isNoRevert(rev) {
		// Refused before anything was applied: nothing to revert (and no
		// "reverted" line that would read as if something had been).
		return nil, fmt.Errorf("inject %s: %w", f.Name(), ierr)
	}
	if ierr != nil {
		rerr := inj.Revert(ctx)
		return nil, errors.Join(fmt.Errorf("inject %s: %w", f.Name(), ierr), rerr)
	}
	g.mu.Lock()
	g.active = append(g.active, inj)
	g.mu.Unlock()
	g.log.Info("injected", "fault", f.Name(), "mechanism", inj.Mechanism, "took", inj.Injected)
	return inj, nil
}

// Revert undoes the injection under context.WithoutCancel with the guard's
// timeout. It is idempotent. A failure is a *RevertError (exit 4).
func (i *Injection) Revert(ctx context.Context) error {
	i.once.Lock()
	defer i.once.Unlock()
	if i.done || i.revert == nil {
		return nil
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), i.g.timeout)
	defer cancel()
	start := time.Now()
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		return i.revert(rctx)
	}()
	i.Reverted = time.Since(start)
	if err != nil {
		if !IsRevertError(err) {
			err = &RevertError{Fault: i.Fault.Name(), Err: err}
		}
		i.g.log.Error("revert failed", "fault", i.Fault.Name(), "err", err)
		return err
	}
	i.done = true
	i.g.log.Info("reverted", "fault", i.Fault.Name(), "took", i.Reverted)
	return nil
}

// RevertAll reverts every live injection, newest first, and joins failures.
func (g *Guard) RevertAll(ctx context.Context) error {
	g.mu.Lock()
	act := g.active
	g.active = nil
	g.mu.Unlock()
	var errs []error
	for k := len(act) - 1; k >= 0; k-- {
		if err := act[k].Revert(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Run injects f, calls hold (e.g. wait for the step's duration; nil holds
// nothing) and always reverts: after hold returns, when ctx is cancelled,
// when hold or Inject fails, and when either panics (the panic continues
// after the revert). It returns the Injection for its timings.
func (g *Guard) Run(ctx context.Context, f Fault, hold func(ctx context.Context) error) (inj *Injection, err error) {
	inj, err = g.Inject(ctx, f)
	if err != nil {
		return nil, err
	}
	defer func() {
		p := recover()
		rerr := inj.Revert(ctx)
		g.mu.Lock()
		for k, a := range g.active {
			if a == inj {
				g.active = append(g.active[:k], g.active[k+1:]...)
				break
			}
		}
		g.mu.Unlock()
		if p != nil {
			panic(fmt.Sprintf("%v (revert: %v)", p, rerr))
		}
		err = errors.Join(err, rerr)
	}()
	if hold != nil {
		if herr := hold(ctx); herr != nil {
			return inj, fmt.Errorf("hold %s: %w", f.Name(), herr)
		}
	}
	return inj, nil
}

// HoldFor returns a hold function that waits d or until ctx is done.
func HoldFor(d time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// DryRun wraps f so that Inject writes what would be done to w and changes
// nothing. Faults that are Describers list their exact steps.
func DryRun(f Fault, w io.Writer) Fault { return dryRun{f: f, w: w} }

type dryRun struct {
	f Fault
	w io.Writer
}

func (d dryRun) Name() string      { return d.f.Name() }
func (d dryRun) Mechanism() string { return MechanismOf(d.f) }

func (d dryRun) Inject(ctx context.Context) (Revert, error) {
	fmt.Fprintf(d.w, "dry-run: %s (mechanism %s)\n", d.f.Name(), orUnknown(MechanismOf(d.f)))
	desc, ok := d.f.(Describer)
	if !ok {
		fmt.Fprintln(d.w, "  would inject (no step list available)")
		return NoRevert, nil
	}
	steps, err := desc.Describe(ctx)
	for _, s := range steps {
		fmt.Fprintln(d.w, "  would:", s)
	}
	return NoRevert, err
}

func orUnknown(s string) string {
	if s == "" {
		return "unspecified"
	}
	return s
}

// Deps are what every fault kind needs to journal and log.
type Deps struct {
	// Journal records injections before they are applied (nil: no journal).
	Journal *Journal
	// Log receives structured logs (nil: discarded).
	Log *slog.Logger
	// RunID is the stack's run id, copied into journal records.
	RunID string
	// Labels are the stack's ownership labels, copied into journal
	// records: a replay acts only on what carries them.
	Labels map[string]string
}

// Logger returns Log or a discarding logger.
func (d Deps) Logger() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}

// Apply journals rec with state (fsync'd) and only then runs apply. The
// returned Revert runs rec.Reverter on the journaled state, so an in-process
// revert and a later Replay do the same thing; it is usable even when apply
// failed half-way.
func Apply(ctx context.Context, d Deps, rec Record, state any, apply func(ctx context.Context) error) (Revert, *Entry, error) {
	if rec.RunID == "" {
		rec.RunID = d.RunID
	}
	if rec.Labels == nil {
		rec.Labels = d.Labels
	}
	e, err := d.Journal.Begin(rec, state)
	if err != nil {
		return NoRevert, nil, err
	}
	if err := apply(ctx); err != nil {
		return e.Revert(), e, err
	}
	return e.Revert(), e, nil
}

// isNoRevert reports whether rev is NoRevert itself (a fault that applied
// nothing returns it).
func isNoRevert(rev Revert) bool {
	return reflect.ValueOf(rev).Pointer() == reflect.ValueOf(Revert(NoRevert)).Pointer()
}
