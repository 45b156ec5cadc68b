package aiuptime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/grafana/sobek"

	"github.com/aiuptime/aiuptime/xk6-aiuptime/internal/sse"
	"go.k6.io/k6/js/common"
	"go.k6.io/k6/js/modules"
	"go.k6.io/k6/lib"
	"go.k6.io/k6/metrics"
)

// Defaults of a Client's configuration.
const (
	// DefaultTimeout bounds one request, headers to last byte.
	DefaultTimeout = 60 * time.Second
	// DefaultStallTimeout is the longest gap allowed between two stream
	// lines once the response headers arrived; 0 in the config disables it.
	DefaultStallTimeout = 10 * time.Second
)

// Headers read from responses.
const headerBackend = "X-Litellm-Model-Id"

var (
	errInitOnly = errors.New("aiuptime: the module must be imported in the init context")
	errNoState  = errors.New("aiuptime: requests can only be made in the VU context, not in the init context")
	errTimeout  = errors.New("request timeout")
	errStalled  = errors.New("stream stalled")
)

// maxErrBody bounds how much of an error response is read.
const maxErrBody = 4 << 10

// config is a Client's configuration from its JS constructor.
type config struct {
	baseURL string
	apiKey  string // secret: never in metrics, results or logs
	model   string
	timeout time.Duration
	stall   time.Duration
}

// parseConfig reads {baseURL, apiKey, model, timeout, stallTimeout}. Durations
// are numbers of milliseconds or Go/k6 duration strings ("30s").
func parseConfig(rt *sobek.Runtime, v sobek.Value) (config, error) {
	cfg := config{timeout: DefaultTimeout, stall: DefaultStallTimeout}
	if common.IsNullish(v) {
		return cfg, errors.New("aiuptime: new Client needs an options object with baseURL")
	}
	obj := v.ToObject(rt)
	for _, k := range obj.Keys() {
		val := obj.Get(k)
		var err error
		switch k {
		case "baseURL":
			cfg.baseURL = strings.TrimRight(val.String(), "/")
		case "apiKey":
			cfg.apiKey = val.String()
		case "model":
			cfg.model = val.String()
		case "timeout":
			cfg.timeout, err = parseDuration(val)
		case "stallTimeout":
			cfg.stall, err = parseDuration(val)
		default:
			return cfg, fmt.Errorf("aiuptime: unknown Client option %q", k)
		}
		if err != nil {
			return cfg, fmt.Errorf("aiuptime: option %s: %w", k, err)
		}
	}
	if cfg.baseURL == "" {
		return cfg, errors.New("aiuptime: option baseURL is required")
	}
	if !strings.HasPrefix(cfg.baseURL, "http://") && !strings.HasPrefix(cfg.baseURL, "https://") {
		return cfg, fmt.Errorf("aiuptime: baseURL %q must start with http:// or https://", cfg.baseURL)
	}
	if cfg.timeout <= 0 {
		return cfg, errors.New("aiuptime: option timeout must be positive")
	}
	return cfg, nil
}

// parseDuration accepts milliseconds (a number) or a duration string.
func parseDuration(v sobek.Value) (time.Duration, error) {
	switch x := v.Export().(type) {
	case int64:
		return time.Duration(x) * time.Millisecond, nil
	case float64:
		return time.Duration(x * float64(time.Millisecond)), nil
	case string:
		return time.ParseDuration(x)
	default:
		return 0, fmt.Errorf("want milliseconds or a duration string, got %T", x)
	}
}

// Client talks to one OpenAI-compatible endpoint for one VU. Its methods
// block the VU like k6's http.post does.
type Client struct {
	vu      modules.VU
	metrics *Metrics
	cfg     config
}

// Result is what chat and stream return to the script. Durations are in
// milliseconds, as k6 reports time.
type Result struct {
	Status       int     `js:"status"`
	TTFT         float64 `js:"ttft"`
	ITL          float64 `js:"itl"` // mean gap between tokens
	TPOT         float64 `js:"tpot"`
	E2E          float64 `js:"e2e"`
	Tokens       int     `js:"tokens"`
	Outcome      string  `js:"outcome"`
	Backend      string  `js:"backend"`
	Error        string  `js:"error"`
	Content      string  `js:"content"`
	FinishReason string  `js:"finishReason"`
}

// Chat sends a non-streaming chat completion; params is the request body
// (messages, max_tokens, and any other OpenAI field) and may override model.
// The optional second argument is {tags: {name: value}}: extra tags for this
// request's samples.
func (c *Client) Chat(params, opts sobek.Value) *Result {
	return c.do(params, opts, false)
}

// Stream sends a streaming chat completion (with usage) and measures TTFT,
// ITL and TPOT from the SSE events. Arguments as for Chat.
func (c *Client) Stream(params, opts sobek.Value) *Result {
	return c.do(params, opts, true)
}

func (c *Client) do(params, opts sobek.Value, stream bool) *Result {
	rt := c.vu.Runtime()
	state := c.vu.State()
	if state == nil {
		common.Throw(rt, errNoState)
	}
	body, model, err := c.body(params, stream)
	if err != nil {
		common.Throw(rt, err)
	}
	extra, err := requestTags(rt, opts)
	if err != nil {
		common.Throw(rt, err)
	}
	transport := state.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}
	r := roundTrip(c.vu.Context(), &http.Client{Transport: transport}, c.cfg, body, stream)
	if c.vu.Context().Err() == nil {
		c.emit(state, model, extra, r)
	}
	return r.Result
}

// requestTags reads the optional {tags: {...}} argument.
func requestTags(rt *sobek.Runtime, opts sobek.Value) (map[string]string, error) {
	if common.IsNullish(opts) {
		return nil, nil
	}
	obj := opts.ToObject(rt)
	var tags map[string]string
	for _, k := range obj.Keys() {
		if k != "tags" {
			return nil, fmt.Errorf("aiuptime: unknown request option %q (want tags)", k)
		}
		tv := obj.Get(k)
		if common.IsNullish(tv) {
			continue
		}
		to := tv.ToObject(rt)
		tags = map[string]string{}
		for _, tk := range to.Keys() {
			tags[tk] = to.Get(tk).String()
		}
	}
	return tags, nil
}

// body builds the JSON request body from the script's params.
func (c *Client) body(params sobek.Value, stream bool) ([]byte, string, error) {
	req := map[string]any{}
	if !common.IsNullish(params) {
		m, ok := params.Export().(map[string]any)
		if !ok {
			return nil, "", errors.New("aiuptime: the request must be an object like {messages: [...]}")
		}
		req = m
	}
	if _, ok := req["messages"]; !ok {
		return nil, "", errors.New("aiuptime: the request needs messages")
	}
	model, _ := req["model"].(string)
	if model == "" {
		model = c.cfg.model
		req["model"] = model
	}
	if model == "" {
		return nil, "", errors.New("aiuptime: no model: set it in new Client({model}) or in the request")
	}
	req["stream"] = stream
	if stream {
		if _, ok := req["stream_options"]; !ok {
			req["stream_options"] = map[string]any{"include_usage": true}
		}
	} else {
		delete(req, "stream_options")
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, "", fmt.Errorf("aiuptime: encode request: %w", err)
	}
	return b, model, nil
}

// exchange is one finished request: the script's Result plus the raw gaps.
type exchange struct {
	*Result
	itl    []time.Duration
	start  time.Time
	chunks int // stream events carrying content (streams only)
}

// roundTrip performs one request under ctx (the VU context) and classifies it.
// It never panics and leaves no goroutine behind: the stall watchdog is a
// stopped timer and the body is closed before it returns.
func roundTrip(vuCtx context.Context, hc *http.Client, cfg config, body []byte, stream bool) exchange {
	ex := exchange{Result: &Result{Outcome: OutcomeError}, start: time.Now()}

	ctx, cancel := context.WithCancelCause(vuCtx)
	defer cancel(nil)
	ctx, cancelTimeout := context.WithTimeoutCause(ctx, cfg.timeout, errTimeout)
	defer cancelTimeout()

	resp, err := send(ctx, hc, cfg, body, stream)
	if err == nil {
		defer func() { _ = resp.Body.Close() }()
		err = ex.read(resp, stream, cfg.stall, cancel)
	}
	ex.E2E = ms(time.Since(ex.start))
	if err != nil {
		ex.fail(vuCtx, ctx, err)
		return ex
	}
	if ex.Tokens > 1 && ex.chunks > 0 {
		ex.TPOT = (ex.E2E - ex.TTFT) / float64(ex.Tokens-1)
	}
	return ex
}

// send posts body to the chat completions endpoint.
func send(ctx context.Context, hc *http.Client, cfg config, body []byte, stream bool) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.baseURL+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "xk6-aiuptime")
	if stream {
		req.Header.Set("Accept", "text/event-stream")
	}
	if cfg.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+cfg.apiKey)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, scrubURL(err)
	}
	return resp, nil
}

// read records the answer in ex. An error means the exchange broke (fail
// classifies it); a complete answer, good or not, is nil.
func (ex *exchange) read(resp *http.Response, stream bool, stall time.Duration, cancel context.CancelCauseFunc) error {
	ex.Status = resp.StatusCode
	ex.Backend = resp.Header.Get(headerBackend)
	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return readHTTPError(resp, ex.Result)
	case !stream:
		return readChat(resp.Body, ex.Result)
	}
	return ex.readStream(resp.Body, stall, cancel)
}

// fail classifies a broken exchange by why its context ended, if it did.
func (ex *exchange) fail(vuCtx, ctx context.Context, err error) {
	switch cause := context.Cause(ctx); {
	case vuCtx.Err() != nil:
		ex.Outcome, ex.Error = OutcomeError, "test ended: "+vuCtx.Err().Error()
	case errors.Is(cause, errStalled):
		ex.Outcome, ex.Error = OutcomeStalled, errStalled.Error()
	case errors.Is(cause, errTimeout):
		ex.Outcome, ex.Error = OutcomeTimeout, errTimeout.Error()
	default:
		ex.Outcome, ex.Error = OutcomeError, sse.Truncate(err.Error())
	}
}

// readHTTPError records a non-2xx answer: "http <status>", with the
// OpenAI-style error object's text when the body has one.
func readHTTPError(resp *http.Response, res *Result) error {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxErrBody))
	if err != nil {
		return err
	}
	res.Error = fmt.Sprintf("http %d", resp.StatusCode)
	var ev struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(b, &ev) == nil && len(ev.Error) > 0 {
		res.Error += ": " + sse.ErrorText(ev.Error)
	}
	return nil
}

// readStream parses an SSE answer into ex, cancelling the request with
// errStalled when no line arrives for stall (0: no limit).
func (ex *exchange) readStream(body io.Reader, stall time.Duration, cancel context.CancelCauseFunc) error {
	onLine := func() {}
	if stall > 0 {
		watchdog := time.AfterFunc(stall, func() { cancel(errStalled) })
		defer watchdog.Stop()
		onLine = func() { watchdog.Reset(stall) }
	}
	st, err := sse.Parse(body, ex.start, time.Now, onLine)
	ex.TTFT = ms(st.TTFT)
	ex.Tokens = st.Tokens()
	ex.FinishReason = st.FinishReason
	ex.Content = string(st.Content)
	ex.itl = st.ITL
	ex.chunks = st.Chunks
	if len(st.ITL) > 0 {
		var sum time.Duration
		for _, d := range st.ITL {
			sum += d
		}
		ex.ITL = ms(sum / time.Duration(len(st.ITL)))
	}
	if err != nil {
		return err
	}
	ex.Outcome = st.Outcome()
	switch ex.Outcome {
	case OutcomeError:
		ex.Error = st.ErrorMessage
	case OutcomeTruncated:
		if !st.Done {
			ex.Error = "stream ended without [DONE]"
		} else {
			ex.Error = "stream ended without finish_reason"
		}
	}
	return nil
}

// readChat decodes a non-streaming chat completion into res.
func readChat(r io.Reader, res *Result) error {
	var body struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage *struct {
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
		Error json.RawMessage `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(r, 16<<20)).Decode(&body); err != nil {
		return fmt.Errorf("decode chat completion: %w", err)
	}
	switch {
	case len(body.Error) > 0 && string(body.Error) != "null":
		res.Outcome, res.Error = OutcomeError, sse.ErrorText(body.Error)
	case len(body.Choices) == 0 || body.Choices[0].FinishReason == "":
		res.Outcome, res.Error = OutcomeTruncated, "completion without choices or finish_reason"
	default:
		res.Outcome = OutcomeOK
	}
	if len(body.Choices) > 0 {
		res.Content = body.Choices[0].Message.Content
		res.FinishReason = body.Choices[0].FinishReason
	}
	if body.Usage != nil {
		res.Tokens = body.Usage.CompletionTokens
	}
	return nil
}

// scrubURL drops the URL from net/http's client errors: it is in every
// message, carries no information here, and could carry userinfo.
func scrubURL(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

// emit pushes the samples of one exchange into the VU's sample channel.
func (c *Client) emit(state *lib.State, model string, extra map[string]string, ex exchange) {
	now := time.Now()
	tm := state.Tags.GetCurrentValues()
	tags := tm.Tags
	for k, v := range extra {
		tags = tags.With(k, v)
	}
	tags = tags.With(TagModel, model)
	if ex.Backend != "" {
		tags = tags.With(TagBackend, ex.Backend)
	}
	m := c.metrics
	up := 0.0
	if ex.Outcome == OutcomeOK {
		up = 1
	}
	samples := make([]metrics.Sample, 0, 8+len(ex.itl))
	add := func(mm *metrics.Metric, ts *metrics.TagSet, v float64) {
		samples = append(samples, metrics.Sample{
			TimeSeries: metrics.TimeSeries{Metric: mm, Tags: ts},
			Time:       now, Metadata: tm.Metadata, Value: v,
		})
	}
	add(m.E2E, tags, ex.E2E)
	add(m.Up, tags, up)
	add(m.Outcome, tags.With(TagOutcome, ex.Outcome), 1)
	if ex.Tokens > 0 {
		add(m.OutputTokens, tags, float64(ex.Tokens))
	}
	if ex.TTFT > 0 {
		add(m.TTFT, tags, ex.TTFT)
	}
	for _, d := range ex.itl {
		add(m.ITL, tags, ms(d))
	}
	if ex.TPOT > 0 {
		add(m.TPOT, tags, ex.TPOT)
	}

	// k6's own HTTP metrics, tagged the way k6/http tags them.
	if bm := state.BuiltinMetrics; bm != nil {
		ht := metrics.TagsAndMeta{Tags: tags, Metadata: tm.Metadata}
		enabled := state.Options.SystemTags
		url := c.cfg.baseURL + "/chat/completions"
		ht.SetSystemTagOrMetaIfEnabled(enabled, metrics.TagMethod, http.MethodPost)
		ht.SetSystemTagOrMetaIfEnabled(enabled, metrics.TagURL, url)
		ht.SetSystemTagOrMetaIfEnabled(enabled, metrics.TagName, url)
		ht.SetSystemTagOrMetaIfEnabled(enabled, metrics.TagStatus, strconv.Itoa(ex.Status))
		okStatus := ex.Status >= 200 && ex.Status < 400
		ht.SetSystemTagOrMetaIfEnabled(enabled, metrics.TagExpectedResponse, strconv.FormatBool(okStatus))
		failed := 1.0
		if okStatus {
			failed = 0
		}
		for _, s := range []struct {
			mm *metrics.Metric
			v  float64
		}{{bm.HTTPReqs, 1}, {bm.HTTPReqDuration, ex.E2E}, {bm.HTTPReqFailed, failed}} {
			samples = append(samples, metrics.Sample{
				TimeSeries: metrics.TimeSeries{Metric: s.mm, Tags: ht.Tags},
				Time:       now, Metadata: ht.Metadata, Value: s.v,
			})
		}
	}
	metrics.PushIfNotDone(c.vu.Context(), state.Samples, metrics.Samples(samples))
}

// ms converts a duration to k6's time unit, float milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
