package recovery

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/aiuptime/aiuptime/probe"
)

// check is one direct check of the service: a health request or a
// completion.
type check struct {
	sent, end time.Time
	ok        bool
	// loading: the health answer said the model is loading (llama.cpp's
	// "Loading model", the fixture's "model is loading").
	loading bool
	// firstToken is when a completion's first token arrived (zero when
	// unknown).
	firstToken time.Time
}

// procPoll is one reading of the service's processes.
type procPoll struct {
	at time.Time
	// lost: a process that ran at the last complete reading is gone or
	// stopped.
	lost bool
	// complete: as many processes of each name run as when the watch began
	// (a respawned engine counts: same name, new process).
	complete bool
}

// rotPoll is one reading of the gateway's view of the service.
type rotPoll struct {
	at    time.Time
	state float64
}

// Watch checks one service directly from just before a fault until it has
// recovered: health and completions at the interval, processes and the
// gateway's view at the poll interval. It stops by itself once no fault on
// the service is in force, the settle time has passed and every check is
// good again (the gateway is given the rotation grace to take the service
// back), or after the max watch time; Stop ends it earlier.
type Watch struct {
	t Target
	o options

	health, comp *Feed
	cancel       context.CancelFunc
	loopDone     chan struct{}

	mu        sync.Mutex
	from, to  time.Time
	hrec      []check
	crec      []check
	procs     []procPoll
	rots      []rotPoll
	baseline  map[string]int  // nil: processes not observable
	known     map[string]bool // ids running at the last complete reading
	baseNote  string
	holds     int
	lastMark  time.Time
	goodSince time.Time
	stopping  bool

	stopOnce sync.Once
	result   *Result
}

// Start takes the service's process baseline, then starts checking it. Call
// it just before the fault lands, then Mark the fault.
func Start(ctx context.Context, t Target, opts ...Option) (*Watch, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	if err := t.check(); err != nil {
		return nil, err
	}
	if t.Model == "" {
		return nil, errors.New("watch " + t.Name + ": no model name for completions")
	}
	w := &Watch{t: t, o: o, loopDone: make(chan struct{}), from: time.Now()}
	w.lastMark = w.from
	w.takeBaseline(ctx)
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w.cancel = cancel
	common := []probe.Option{probe.WithInterval(o.interval), probe.WithDuration(o.maxWatch), probe.WithLogger(o.log)}
	if t.Resolve != nil {
		common = append(common, probe.WithResolver(t.Resolve, 0))
	}
	w.health, err = StartFeed(wctx, t.URL, o.rule, w.addHealth, append(common, probe.WithMode(probe.ModeHealth),
		probe.WithHealthPath(t.HealthPath), probe.WithTimeout(o.healthTimeout), probe.WithConcurrency(healthConcurrency))...)
	if err != nil {
		cancel()
		return nil, err
	}
	w.comp, err = StartFeed(wctx, t.URL, o.rule, w.addCompletion, append(common, probe.WithMode(probe.ModeStream),
		probe.WithModel(t.Model), probe.WithAPIKey(t.APIKey), probe.WithMaxTokens(1),
		probe.WithTimeout(o.completionTimeout), probe.WithConcurrency(completionConcurrency))...)
	if err != nil {
		w.health.Stop()
		cancel()
		return nil, err
	}
	go w.loop(wctx)
	o.log.Info("watching service directly", "service", t.Name, "interval", o.interval, "rule", o.rule)
	return w, nil
}

// takeBaseline records which processes the service runs now.
func (w *Watch) takeBaseline(ctx context.Context) {
	if w.t.Processes == nil {
		w.baseNote = "the stack cannot list the service's processes"
		return
	}
	ps, err := w.t.Processes(ctx)
	base, known := map[string]int{}, map[string]bool{}
	for _, p := range ps {
		if p.Running {
			base[p.Name]++
			known[p.ID] = true
		}
	}
	if err != nil || len(base) == 0 {
		w.baseNote = "the service ran no process when the watch began: nothing to compare with"
		return
	}
	w.baseline, w.known = base, known
}

// isLoading tells a health answer that says the model is loading.
func isLoading(r probe.Result) bool {
	return !r.Outcome.Good() && strings.Contains(strings.ToLower(r.Err), "loading")
}

func (w *Watch) addHealth(r probe.Result) {
	c := check{sent: r.Observed(), end: r.End(), ok: r.Outcome.Good(), loading: isLoading(r)}
	w.mu.Lock()
	w.hrec = append(w.hrec, c)
	w.mu.Unlock()
}

func (w *Watch) addCompletion(r probe.Result) {
	c := check{sent: r.Observed(), end: r.End(), ok: r.Outcome.Good()}
	if c.ok && r.TTFT > 0 {
		c.firstToken = r.Start.Add(r.TTFT)
	}
	w.mu.Lock()
	w.crec = append(w.crec, c)
	w.mu.Unlock()
}

// Mark records a fault or an action on the service at at. A held one (a
// fault in force until reverted, an action under way) keeps the watch going
// until Release. Mark returns false when the watch has already ended: start
// a new one.
func (w *Watch) Mark(at time.Time, held bool) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopping {
		return false
	}
	if held {
		w.holds++
	}
	if at.After(w.lastMark) {
		w.lastMark = at
	}
	return true
}

// Release ends a held Mark at at (the fault was reverted, the action ended).
func (w *Watch) Release(at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.holds > 0 {
		w.holds--
	}
	if at.After(w.lastMark) {
		w.lastMark = at
	}
}

// Done is closed when the watch has ended (by itself or by Stop).
func (w *Watch) Done() <-chan struct{} { return w.loopDone }

// loop polls processes and the gateway's view and ends the watch when the
// service has recovered, at the max watch time or when ctx ends; then it
// stops the checks.
func (w *Watch) loop(ctx context.Context) {
	defer close(w.loopDone)
	defer w.stopFeeds()
	t := time.NewTicker(w.o.poll)
	defer t.Stop()
	end := time.NewTimer(w.o.maxWatch)
	defer end.Stop()
	for {
		select {
		case <-ctx.Done():
			w.setStopping()
			return
		case <-end.C:
			w.o.log.Warn("watch reached its limit", "service", w.t.Name, "limit", w.o.maxWatch)
			w.setStopping()
			return
		case now := <-t.C:
			w.poll(ctx)
			if w.finished(now) {
				w.o.log.Info("service recovered; watch ends", "service", w.t.Name, "watched", now.Sub(w.from).Round(time.Millisecond))
				return
			}
		}
	}
}

// stopFeeds stops both checks and waits for the ones in flight.
func (w *Watch) stopFeeds() {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); w.health.Stop() }()
	go func() { defer wg.Done(); w.comp.Stop() }()
	wg.Wait()
	w.mu.Lock()
	w.to = time.Now()
	w.mu.Unlock()
}

func (w *Watch) setStopping() {
	w.mu.Lock()
	w.stopping = true
	w.mu.Unlock()
}

// poll reads the processes and the gateway's view once, side by side; each
// reading is stamped when it returned.
func (w *Watch) poll(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, max(w.o.poll, time.Second))
	defer cancel()
	var wg sync.WaitGroup
	if w.t.Processes != nil && w.baseline != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ps, err := w.t.Processes(pctx)
			at := time.Now()
			w.mu.Lock()
			w.procs = append(w.procs, w.reading(at, ps, err))
			w.mu.Unlock()
		}()
	}
	if w.t.Rotation != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if st, ok := w.t.Rotation(pctx); ok {
				at := time.Now()
				w.mu.Lock()
				w.rots = append(w.rots, rotPoll{at: at, state: st})
				w.mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// reading compares ps (an error: no processes) with the processes known to
// run; a complete reading becomes the new known set. w.mu is held.
func (w *Watch) reading(at time.Time, ps []Process, err error) procPoll {
	running, have := map[string]bool{}, map[string]int{}
	if err == nil {
		for _, p := range ps {
			if p.Running {
				running[p.ID] = true
				have[p.Name]++
			}
		}
	}
	r := procPoll{at: at, complete: true}
	for id := range w.known {
		r.lost = r.lost || !running[id]
	}
	for name, n := range w.baseline {
		r.complete = r.complete && have[name] >= n
	}
	if r.complete {
		w.known = running
	}
	return r
}

// finished decides, at now, whether the watch can end, and if so marks it
// stopping (no more Marks join it).
func (w *Watch) finished(now time.Time) bool {
	h, c := w.health.Live(), w.comp.Live()
	w.mu.Lock()
	defer w.mu.Unlock()
	good := w.holds == 0 && now.Sub(w.lastMark) >= w.o.settle && h.Recovered && c.Recovered
	if n := len(w.procs); good && n > 0 {
		good = w.procs[n-1].complete
	}
	if !good {
		w.goodSince = time.Time{}
		return false
	}
	if w.goodSince.IsZero() {
		w.goodSince = now
	}
	if n := len(w.rots); n > 0 && w.rots[n-1].state != 0 && now.Sub(w.goodSince) < w.o.rotationGrace {
		return false
	}
	w.stopping = true
	return true
}

// Stop ends the watch (if it has not ended by itself), waits for the checks
// in flight and returns what it saw. It is idempotent.
func (w *Watch) Stop() *Result {
	w.stopOnce.Do(func() {
		w.setStopping()
		w.cancel()
		<-w.loopDone
		w.result = w.build()
	})
	return w.result
}
