package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

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

// buildBodies encodes the request bodies of chat and stream modes and
// picks the request function.
func (p *Probe) buildBodies() error {
	var err error
	if p.o.mode == ModeStream || p.o.streamEvery > 0 {
		if p.streamBody, err = p.chatBody(true); err != nil {
			return err
		}
	}
	if p.o.mode == ModeStream {
		p.request = p.doStream
		return nil
	}
	if p.body, err = p.chatBody(false); err != nil {
		return err
	}
	p.request = p.doChat
	return nil
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

// doChat sends a non-streaming completion, or a streaming one when r is
// the nth request of WithStreamEvery.
func (p *Probe) doChat(ctx context.Context, r *Result) {
	if n := uint64(p.o.streamEvery); n > 0 && r.Seq%n == 0 {
		p.doStream(ctx, r)
		return
	}
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
	resp := p.send(ctx, r, http.MethodPost, p.o.chatPath, p.streamBody, "text/event-stream")
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
