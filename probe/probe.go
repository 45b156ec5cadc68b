package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	o      options
	client *http.Client

	started  atomic.Bool
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}

	sent    atomic.Uint64
	late    atomic.Int64 // largest scheduling lag seen, ns
	body    []byte       // request body of chat/stream modes
	request func(ctx context.Context, r *Result)
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
		body, err := p.chatBody(p.o.mode == ModeStream)
		if err != nil {
			close(p.done)
			return nil, err
		}
		p.body = body
		if p.o.mode == ModeChat {
			p.request = p.doChat
		} else {
			p.request = p.doStream
		}
	}
	out := make(chan Result, p.o.buffer)
	p.o.logger.Info("probe starting", "target", p.base.Redacted(), "mode", p.o.mode,
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

func (p *Probe) run(ctx context.Context, out chan<- Result) {
	defer close(p.done)
	defer close(out)
	var wg sync.WaitGroup
	slots := make(chan struct{}, p.o.concurrency)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	begin := time.Now()
	var end <-chan time.Time
	if p.o.duration > 0 {
		dt := time.NewTimer(p.o.duration)
		defer dt.Stop()
		end = dt.C
	}
	for seq := uint64(0); p.o.maxRequests == 0 || seq < p.o.maxRequests; seq++ {
		intended := begin.Add(time.Duration(seq) * p.o.interval)
		if p.o.duration > 0 && !intended.Before(begin.Add(p.o.duration)) {
			break
		}
		if wait := time.Until(intended); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				goto drain
			case <-p.stop:
				goto drain
			case <-end:
				goto drain
			}
		} else {
			select {
			case <-ctx.Done():
				goto drain
			case <-p.stop:
				goto drain
			case <-end:
				goto drain
			default:
			}
		}
		// Wait for a slot; the intended time does not move.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			goto drain
		case <-p.stop:
			goto drain
		case <-end:
			goto drain
		}
		if lag := int64(time.Since(intended)); lag > p.late.Load() {
			p.late.Store(lag)
		}
		p.sent.Add(1)
		wg.Add(1)
		go func(seq uint64, intended time.Time) {
			defer wg.Done()
			r := p.one(ctx, seq, intended)
			<-slots
			out <- r
		}(seq, intended)
	}
drain:
	wg.Wait()
	p.o.logger.Info("probe stopped", "target", p.base.Redacted(), "sent", p.sent.Load())
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

func (p *Probe) newRequest(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	u := *p.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	for k, vs := range p.o.headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if p.o.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+p.o.apiKey)
	}
	return req, nil
}

// transportError turns a client error into a short text without the URL's
// credentials (the API key never travels in the URL).
func transportError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return clip(err.Error())
}

func (p *Probe) doHealth(ctx context.Context, r *Result) {
	resp := p.send(ctx, r, http.MethodGet, p.o.healthPath, nil, "")
	if resp == nil {
		return
	}
	defer resp.Body.Close()
	if _, ok := readAnswer(resp, r, 64<<10); ok {
		r.Outcome = OK
	}
}

// send issues one request and records its status and answering backend.
// On failure to send it fills r's outcome and returns nil.
func (p *Probe) send(ctx context.Context, r *Result, method, path string, body []byte, accept string) *http.Response {
	req, err := p.newRequest(ctx, method, path, body)
	if err != nil {
		r.Outcome, r.Err = Error, clip(err.Error())
		return nil
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		r.Outcome, r.Err = Error, transportError(err)
		return nil
	}
	r.Code = resp.StatusCode
	r.Backend = resp.Header.Get(BackendHeader)
	return resp
}

// readAnswer reads a whole (non-streamed) answer up to limit bytes, stamps
// the latency and judges the status; false when r already holds the failure.
func readAnswer(resp *http.Response, r *Result, limit int64) ([]byte, bool) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	r.Latency = time.Since(r.Start)
	switch {
	case err != nil:
		r.Outcome, r.Err = Error, "read body: "+transportError(err)
		return nil, false
	case resp.StatusCode/100 != 2:
		r.Outcome, r.Err = Error, bodyError(resp.StatusCode, body)
		return nil, false
	}
	return body, true
}

type chatRequest struct {
	Model         string        `json:"model"`
	Messages      []chatMessage `json:"messages"`
	MaxTokens     int           `json:"max_tokens"`
	Stream        bool          `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options,omitempty"`
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

func (p *Probe) chatBody(stream bool) ([]byte, error) {
	req := chatRequest{
		Model:     p.o.model,
		Messages:  []chatMessage{{Role: "user", Content: p.o.prompt}},
		MaxTokens: p.o.maxTokens,
		Stream:    stream,
	}
	if stream {
		req.StreamOptions = &struct {
			IncludeUsage bool `json:"include_usage"`
		}{true}
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode probe request: %w", err)
	}
	return b, nil
}

type chatResponse struct {
	Error   json.RawMessage `json:"error"`
	Choices []struct {
		Message *struct {
			Content *string `json:"content"`
		} `json:"message"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

func (p *Probe) doChat(ctx context.Context, r *Result) {
	resp := p.send(ctx, r, http.MethodPost, p.o.chatPath, p.body, "")
	if resp == nil {
		return
	}
	defer resp.Body.Close()
	body, ok := readAnswer(resp, r, 1<<20)
	if !ok {
		return
	}
	var c chatResponse
	if err := json.Unmarshal(body, &c); err != nil {
		r.Outcome, r.Err = Error, clip("invalid completion: "+err.Error())
		return
	}
	switch {
	case len(c.Error) > 0 && string(c.Error) != "null":
		r.Outcome, r.Err = Error, clip("completion error: "+errorText(c.Error))
	case len(c.Choices) == 0:
		r.Outcome, r.Err = Error, "completion without choices"
	case c.Choices[0].FinishReason == nil || *c.Choices[0].FinishReason == "":
		r.Outcome, r.Err = Truncated, "completion without finish_reason"
	default:
		r.Outcome = OK
	}
	if c.Usage != nil {
		r.Tokens = c.Usage.CompletionTokens
	}
}

func (p *Probe) doStream(ctx context.Context, r *Result) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	resp := p.send(ctx, r, http.MethodPost, p.o.chatPath, p.body, "text/event-stream")
	if resp == nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		r.Latency = time.Since(r.Start)
		r.Outcome, r.Err = Error, bodyError(resp.StatusCode, body)
		return
	}
	errStalled := errors.New("stalled")
	var (
		mu       sync.Mutex
		last     time.Time
		stalled  bool
		maxGap   time.Duration
		watchdog *time.Timer
	)
	onToken := func() {
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		if last.IsZero() {
			r.TTFT = now.Sub(r.Start)
			watchdog = time.AfterFunc(p.o.stall, func() {
				mu.Lock()
				stalled = true
				mu.Unlock()
				cancel(errStalled)
			})
		} else {
			gap := now.Sub(last)
			r.ITL = append(r.ITL, gap)
			if gap > maxGap {
				maxGap = gap
			}
			watchdog.Reset(p.o.stall)
		}
		last = now
	}
	sum, rerr := parseStream(resp.Body, onToken)
	mu.Lock()
	if watchdog != nil {
		watchdog.Stop()
	}
	isStalled := stalled || maxGap > p.o.stall
	mu.Unlock()
	r.Latency = time.Since(r.Start)
	r.Tokens = sum.Chunks
	if sum.UsageTokens > 0 {
		r.Tokens = sum.UsageTokens
	}
	switch {
	case sum.Err != "":
		r.Outcome, r.Err = Error, sum.Err
	case isStalled:
		r.Outcome, r.Err = Stalled, fmt.Sprintf("gap between tokens over %v", p.o.stall)
	case rerr != nil:
		r.Outcome, r.Err = Error, clip("read stream: "+transportError(rerr))
	case !sum.Done && sum.FinishReason == "":
		r.Outcome, r.Err = Truncated, "stream ended without [DONE] and finish_reason"
	case !sum.Done:
		r.Outcome, r.Err = Truncated, "stream ended without [DONE]"
	case sum.FinishReason == "":
		r.Outcome, r.Err = Truncated, "stream ended without finish_reason"
	default:
		r.Outcome = OK
	}
}

func (p *Probe) discoverModel(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, p.o.timeout)
	defer cancel()
	req, err := p.newRequest(ctx, http.MethodGet, "/v1/models", nil)
	if err != nil {
		return "", fmt.Errorf("discover model: %w", err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("discover model: %s", transportError(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("discover model: %s", bodyError(resp.StatusCode, body))
	}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return "", fmt.Errorf("discover model: decode /v1/models: %w", err)
	}
	if len(list.Data) == 0 || list.Data[0].ID == "" {
		return "", errors.New("discover model: /v1/models lists no model")
	}
	return list.Data[0].ID, nil
}
