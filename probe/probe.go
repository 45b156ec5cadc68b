package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrStarted is returned by Start when the probe was already started.
var ErrStarted = errors.New("probe already started")

// Probe sends open-loop synthetic traffic to one base URL (a gateway or a
// model server) and streams one Result per request.
//
// Requests are scheduled at fixed intended send times (start + seq ×
// interval). Latency, TTFT and the per-request deadline all count from the
// intended time, so a slow target or a full concurrency cap shows up as
// latency instead of silently lowering the rate (no coordinated omission).
type Probe struct {
	base   *url.URL
	res    resolving
	o      options
	client *http.Client

	started  atomic.Bool
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}

	sent atomic.Uint64
	late atomic.Int64 // largest scheduling lag seen, ns

	body       []byte // request body of non-streaming chat requests
	streamBody []byte // request body of streaming ones (stream mode, WithStreamEvery)
	request    func(ctx context.Context, r *Result)
}

// New checks the target and options. baseURL is the scheme, host and port
// (e.g. http://127.0.0.1:4000); a trailing /v1 is accepted and dropped.
func New(baseURL string, opts ...Option) (*Probe, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("parse probe target %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("probe target %q: want http(s)://host:port", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/v1")
	p := &Probe{base: u, o: defaultOptions(), stop: make(chan struct{}), done: make(chan struct{})}
	for _, opt := range opts {
		if err := opt(&p.o); err != nil {
			return nil, fmt.Errorf("probe option: %w", err)
		}
	}
	if p.o.streamEvery > 0 && p.o.mode != ModeChat {
		return nil, fmt.Errorf("probe option: stream every %d applies to chat mode only, not %s", p.o.streamEvery, p.o.mode)
	}
	p.client = p.o.client
	if p.client == nil {
		p.client = &http.Client{Transport: newTransport(p.o.concurrency)}
	}
	return p, nil
}

func newTransport(conns int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
}

// Mode returns the probe's mode.
func (p *Probe) Mode() Mode { return p.o.mode }

// Interval returns the time between two intended send times.
func (p *Probe) Interval() time.Duration { return p.o.interval }

// Sent returns how many requests have been scheduled so far.
func (p *Probe) Sent() uint64 { return p.sent.Load() }

// MaxLag returns the largest delay between a request's intended send time
// and its actual send (scheduler lag plus waiting for a concurrency slot).
func (p *Probe) MaxLag() time.Duration { return time.Duration(p.late.Load()) }

// Start begins probing and returns the results channel. It runs until ctx
// is done, Stop is called, or the optional request count or duration is
// reached; then requests in flight finish (each within its timeout), their
// results are delivered, and the channel is closed. The caller must drain
// the channel until it is closed. In chat and stream modes without
// WithModel, Start first asks GET /v1/models for a model name.
func (p *Probe) Start(ctx context.Context) (<-chan Result, error) {
	if !p.started.CompareAndSwap(false, true) {
		return nil, ErrStarted
	}
	switch p.o.mode {
	case ModeHealth:
		p.request = p.doHealth
	case ModeChat, ModeStream:
		if p.o.model == "" {
			m, err := p.discoverModel(ctx)
			if err != nil {
				close(p.done)
				return nil, err
			}
			p.o.model = m
		}
		if err := p.buildBodies(); err != nil {
			close(p.done)
			return nil, err
		}
	}
	out := make(chan Result, p.o.buffer)
	p.o.logger.Info("probe starting", "target", p.base.Redacted(), "mode", p.o.mode, "stream_every", p.o.streamEvery,
		"interval", p.o.interval, "concurrency", p.o.concurrency, "timeout", p.o.timeout)
	go p.run(ctx, out)
	return out, nil
}

// Stop stops scheduling new requests. It is idempotent; the results channel
// closes once requests in flight have finished.
func (p *Probe) Stop() { p.stopOnce.Do(func() { close(p.stop) }) }

// Done is closed when the probe has finished and its channel is closed.
func (p *Probe) Done() <-chan struct{} { return p.done }

// Model returns the model name used by chat and stream requests (after
// discovery, once Start returned).
func (p *Probe) Model() string { return p.o.model }

// run schedules one request per interval until the probe must stop, then
// waits for the requests in flight and closes out.
func (p *Probe) run(ctx context.Context, out chan<- Result) {
	defer close(p.done)
	defer close(out)
	var wg sync.WaitGroup
	// slots holds one token per request allowed in flight.
	slots := make(chan struct{}, p.o.concurrency)
	for range p.o.concurrency {
		slots <- struct{}{}
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	begin := time.Now()
	h := halts{ctx: ctx.Done(), stop: p.stop}
	if p.o.duration > 0 {
		dt := time.NewTimer(p.o.duration)
		defer dt.Stop()
		h.end = dt.C
	}
	for seq := uint64(0); p.o.maxRequests == 0 || seq < p.o.maxRequests; seq++ {
		intended := begin.Add(time.Duration(seq) * p.o.interval)
		if p.o.duration > 0 && !intended.Before(begin.Add(p.o.duration)) {
			break
		}
		if wait := time.Until(intended); wait > 0 {
			timer.Reset(wait)
			if !until(h, timer.C) {
				break
			}
		} else if h.halted() {
			break
		}
		// Wait for a slot; the intended time does not move.
		if !until(h, slots) {
			break
		}
		if lag := int64(time.Since(intended)); lag > p.late.Load() {
			p.late.Store(lag)
		}
		p.sent.Add(1)
		wg.Add(1)
		go func(seq uint64, intended time.Time) {
			defer wg.Done()
			r := p.one(ctx, seq, intended)
			slots <- struct{}{}
			out <- r
		}(seq, intended)
	}
	wg.Wait()
	p.o.logger.Info("probe stopped", "target", p.base.Redacted(), "sent", p.sent.Load())
}

// halts are what stops the scheduling of new requests: ctx done, Stop
// called, or the duration over (nil without one).
type halts struct {
	ctx  <-chan struct{}
	stop <-chan struct{}
	end  <-chan time.Time
}

// halted reports, without blocking, whether scheduling must stop.
func (h halts) halted() bool {
	select {
	case <-h.ctx:
	case <-h.stop:
	case <-h.end:
	default:
		return false
	}
	return true
}

// until waits for c to deliver (true) or for a halt (false).
func until[T any](h halts, c <-chan T) bool {
	select {
	case <-c:
		return true
	case <-h.ctx:
	case <-h.stop:
	case <-h.end:
	}
	return false
}

// one performs a single request. Requests in flight when the probe stops
// are not cancelled: they end within their own deadline, so every request
// sent gets an honest result.
func (p *Probe) one(ctx context.Context, seq uint64, intended time.Time) Result {
	r := Result{Seq: seq, Start: intended}
	deadline := intended.Add(p.o.timeout)
	if !time.Now().Before(deadline) {
		// It waited for a slot past its whole deadline: never sent.
		r.Outcome, r.Err = Timeout, "timed out waiting for a concurrency slot"
		r.Latency = time.Since(intended)
		return r
	}
	rctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	r.Sent = time.Now()
	p.request(rctx, &r)
	if r.Latency == 0 {
		r.Latency = time.Since(intended)
	}
	if r.Outcome != OK && r.Outcome != Stalled && rctx.Err() != nil && errors.Is(context.Cause(rctx), context.DeadlineExceeded) {
		r.Outcome = Timeout
		if r.Err == "" || !strings.Contains(r.Err, "deadline") {
			r.Err = clip("timeout after " + p.o.timeout.String() + ": " + r.Err)
		}
	}
	return r
}
