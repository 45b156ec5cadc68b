package probe

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Mode selects what one probe request does.
type Mode string

// Probe modes.
const (
	// ModeHealth GETs the health path; any 2xx is a success.
	ModeHealth Mode = "health"
	// ModeChat sends a tiny non-streaming chat completion with a deadline,
	// which catches a hung engine whose /health still answers 200. With
	// WithStreamEvery, every nth of them streams instead, to measure TTFT,
	// inter-token gaps and the token count as ModeStream does.
	ModeChat Mode = "chat"
	// ModeStream sends a streaming chat completion and records TTFT,
	// inter-token gaps and the token count.
	ModeStream Mode = "stream"
)

// ParseMode returns the Mode named s (health, chat or stream).
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case ModeHealth, ModeChat, ModeStream:
		return m, nil
	}
	return "", fmt.Errorf("unknown probe mode %q (want health, chat or stream)", s)
}

// Defaults of the runtime knobs.
const (
	// DefaultRate is the number of requests scheduled per second.
	DefaultRate = 50.0
	// DefaultConcurrency caps the requests in flight.
	DefaultConcurrency = 256
	// DefaultTimeout is the per-request deadline, counted from the intended
	// send time.
	DefaultTimeout = 5 * time.Second
	// DefaultStallThreshold is the longest gap between two streamed tokens
	// before the stream counts as stalled.
	DefaultStallThreshold = 2 * time.Second
	// DefaultHealthPath is vLLM's health endpoint. Use "/health/liveliness"
	// for a LiteLLM gateway.
	DefaultHealthPath = "/health"
	// DefaultChatPath is the OpenAI chat completions endpoint.
	DefaultChatPath = "/v1/chat/completions"
	// DefaultPrompt is the user message of chat and stream probes.
	DefaultPrompt = "ping"
	// DefaultMaxTokens bounds the completion of chat and stream probes.
	DefaultMaxTokens = 8
	// DefaultBuffer is the capacity of the results channel.
	DefaultBuffer = 4096
	// BackendHeader is the response header naming the deployment that
	// answered (LiteLLM).
	BackendHeader = "x-litellm-model-id"
)

// Option configures a Probe.
type Option func(*options) error

type options struct {
	resolver     Resolver
	resolveEvery time.Duration
	mode         Mode
	interval     time.Duration
	concurrency  int
	timeout      time.Duration
	stall        time.Duration
	healthPath   string
	chatPath     string
	apiKey       string
	model        string
	prompt       string
	maxTokens    int
	streamEvery  int // 0: chat requests never stream
	maxRequests  uint64
	duration     time.Duration
	buffer       int
	client       *http.Client
	logger       *slog.Logger
	headers      http.Header
}

func defaultOptions() options {
	return options{
		mode:        ModeHealth,
		interval:    time.Duration(float64(time.Second) / DefaultRate),
		concurrency: DefaultConcurrency,
		timeout:     DefaultTimeout,
		stall:       DefaultStallThreshold,
		healthPath:  DefaultHealthPath,
		chatPath:    DefaultChatPath,
		prompt:      DefaultPrompt,
		maxTokens:   DefaultMaxTokens,
		buffer:      DefaultBuffer,
		logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		headers:     http.Header{},
	}
}

// WithMode selects health, chat or stream requests (default health).
func WithMode(m Mode) Option {
	return func(o *options) error {
		if _, err := ParseMode(string(m)); err != nil {
			return err
		}
		o.mode = m
		return nil
	}
}

// WithRate schedules perSecond requests per second (open loop).
func WithRate(perSecond float64) Option {
	return func(o *options) error {
		if !(perSecond > 0) || perSecond > 1e6 {
			return fmt.Errorf("probe rate %v/s out of range (0, 1e6]", perSecond)
		}
		o.interval = time.Duration(float64(time.Second) / perSecond)
		return nil
	}
}

// WithInterval schedules one request every d (open loop); the inverse of
// WithRate.
func WithInterval(d time.Duration) Option {
	return func(o *options) error {
		if d < time.Microsecond {
			return fmt.Errorf("probe interval %v too small (min 1µs)", d)
		}
		o.interval = d
		return nil
	}
}

// WithConcurrency caps the requests in flight. A request that finds no free
// slot waits, and its latency still counts from its intended send time.
func WithConcurrency(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("probe concurrency %d must be at least 1", n)
		}
		o.concurrency = n
		return nil
	}
}

// WithTimeout sets the per-request deadline, counted from the intended
// send time.
func WithTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("probe timeout %v must be positive", d)
		}
		o.timeout = d
		return nil
	}
}

// WithStallThreshold sets the longest gap between two streamed tokens
// before a stream counts as stalled (and is abandoned).
func WithStallThreshold(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("probe stall threshold %v must be positive", d)
		}
		o.stall = d
		return nil
	}
}

// WithHealthPath sets the path GETed in health mode.
func WithHealthPath(p string) Option {
	return func(o *options) error {
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("probe health path %q must start with /", p)
		}
		o.healthPath = p
		return nil
	}
}

// WithChatPath sets the chat completions path (default /v1/chat/completions).
func WithChatPath(p string) Option {
	return func(o *options) error {
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("probe chat path %q must start with /", p)
		}
		o.chatPath = p
		return nil
	}
}

// WithAPIKey sends "Authorization: Bearer key". The key is never logged.
func WithAPIKey(key string) Option {
	return func(o *options) error {
		o.apiKey = key
		return nil
	}
}

// WithModel sets the model name of chat and stream requests. Without it,
// Start asks GET /v1/models and uses the first model.
func WithModel(name string) Option {
	return func(o *options) error {
		o.model = name
		return nil
	}
}

// WithPrompt sets the user message of chat and stream requests.
func WithPrompt(s string) Option {
	return func(o *options) error {
		o.prompt = s
		return nil
	}
}

// WithMaxTokens bounds the completion length of chat and stream requests.
func WithMaxTokens(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("probe max tokens %d must be at least 1", n)
		}
		o.maxTokens = n
		return nil
	}
}

// WithStreamEvery makes every nth request of chat mode a streaming one (the
// requests whose Seq is a multiple of n, the first included), sent and
// judged as in ModeStream: stream: true with usage, TTFT, inter-token gaps,
// stalls and truncation. The others stay non-streaming. n must be at least
// 1 (1 streams every request); the option applies to ModeChat only.
func WithStreamEvery(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("probe stream every %d must be at least 1", n)
		}
		o.streamEvery = n
		return nil
	}
}

// WithMaxRequests stops scheduling after n requests (0: no limit).
func WithMaxRequests(n uint64) Option {
	return func(o *options) error {
		o.maxRequests = n
		return nil
	}
}

// WithDuration stops scheduling d after Start (0: until the context ends).
func WithDuration(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("probe duration %v must not be negative", d)
		}
		o.duration = d
		return nil
	}
}

// WithBuffer sets the capacity of the results channel.
func WithBuffer(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return errors.New("probe buffer must not be negative")
		}
		o.buffer = n
		return nil
	}
}

// WithHTTPClient replaces the HTTP client (its Timeout is ignored: the
// per-request deadline applies).
func WithHTTPClient(c *http.Client) Option {
	return func(o *options) error {
		if c == nil {
			return errors.New("probe http client is nil")
		}
		o.client = c
		return nil
	}
}

// WithHeader adds a request header to every probe request.
func WithHeader(key, value string) Option {
	return func(o *options) error {
		o.headers.Add(key, value)
		return nil
	}
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("probe logger is nil")
		}
		o.logger = l
		return nil
	}
}
