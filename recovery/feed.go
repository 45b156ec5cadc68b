package recovery

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aiuptime/aiuptime/probe"
	"github.com/aiuptime/aiuptime/uptime"
)

// feedWindow is the width of a feed's live window.
const feedWindow = 10 * time.Second

// Feed runs one probe against one service and folds every result into the
// uptime analyzer (availability, outages under the confirmation rule,
// percentiles: the same analysis as the users' probe) and a live window
// (the state now). Per-service availability and the direct checks of a
// watch are feeds.
type Feed struct {
	p    *probe.Probe
	an   *uptime.Analyzer
	win  *uptime.Window
	stop context.CancelFunc
	done chan struct{}

	once     sync.Once
	analysis *uptime.Analysis
}

// StartFeed starts probing url with popts (mode, interval, timeout, key,
// ...). Outages are confirmed under rule. on, if not nil, sees every result
// first, on the feed's goroutine. The probe stops by itself when ctx ends
// or after its WithDuration; Stop stops it earlier.
func StartFeed(ctx context.Context, url string, rule Rule, on func(probe.Result), popts ...probe.Option) (*Feed, error) {
	if err := rule.Check(); err != nil {
		return nil, err
	}
	th := []uptime.Option{uptime.WithFailoverThreshold(rule.Failures), uptime.WithRecoveryThreshold(rule.Successes)}
	an, err := uptime.NewAnalyzer(th...)
	if err != nil {
		return nil, err
	}
	win, err := uptime.NewWindow(feedWindow, th...)
	if err != nil {
		return nil, err
	}
	p, err := probe.New(url, popts...)
	if err != nil {
		return nil, fmt.Errorf("probe %s: %w", url, err)
	}
	pctx, cancel := context.WithCancel(ctx)
	results, err := p.Start(pctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("start probe of %s: %w", url, err)
	}
	f := &Feed{p: p, an: an, win: win, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		for r := range results {
			if on != nil {
				on(r)
			}
			an.Add(r)
			win.Add(r)
		}
	}()
	return f, nil
}

// Live is the feed's state now: whether the service is in an outage, and
// how many results in a row were good or bad.
func (f *Feed) Live() uptime.WindowStats { return f.win.Stats(time.Now()) }

// Done is closed when the probe has stopped and every result was folded in.
func (f *Feed) Done() <-chan struct{} { return f.done }

// Stop stops probing, waits for the requests in flight (each ends within
// its own timeout) and returns the analysis. It is idempotent.
func (f *Feed) Stop() *uptime.Analysis {
	f.once.Do(func() {
		f.p.Stop()
		<-f.done
		f.stop()
		f.analysis = f.an.Close()
	})
	return f.analysis
}

// AddEvent puts a drill event (a fault, an action) on the feed's timeline,
// so that its outages name their cause.
func (f *Feed) AddEvent(e uptime.Event) { f.an.AddEvent(e) }
