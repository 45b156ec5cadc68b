package rollout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/openai/openai-go"
	"github.com/openai/openai-go/option"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/aiuptime/aiuptime/stack"
)

// Defaults of the checks.
const (
	// DefaultGoldenPrompt is the fixed prompt whose answer (temperature 0,
	// fixed seed) must not change across an update of the same model.
	DefaultGoldenPrompt = "aiuptime golden prompt: summarise the maintenance window in one sentence"
	// DefaultGoldenMaxTokens bounds the golden answer.
	DefaultGoldenMaxTokens = 32
	// DefaultDrainTimeout bounds the wait for a replica's in-flight requests.
	DefaultDrainTimeout = 30 * time.Second
	// MetricRequestsRunning is vLLM's gauge of requests in the engine.
	MetricRequestsRunning = "vllm:num_requests_running"
)

// Errors callers branch on.
var (
	// ErrNoDeployment: the gateway has no deployment with that id.
	ErrNoDeployment = errors.New("no such deployment")
	// ErrImageNotFound: the target image does not exist; nothing was touched.
	ErrImageNotFound = errors.New("image not found")
	// ErrUnsupported: the stack cannot start or replace services.
	ErrUnsupported = errors.New("stack cannot replace services")
	// ErrGoldenMismatch: a replica answered the golden prompt differently.
	ErrGoldenMismatch = errors.New("golden prompt answer changed")
	// ErrDrainTimeout: in-flight requests did not drain in time.
	ErrDrainTimeout = errors.New("drain timed out")
)

// Golden asks svc the golden prompt directly (not through the gateway) with
// the official OpenAI client, at temperature 0 with a fixed seed.
func Golden(ctx context.Context, svc stack.Service, apiKey, prompt string) (string, error) {
	if apiKey == "" {
		apiKey = "none"
	}
	c := openai.NewClient(option.WithBaseURL(strings.TrimRight(svc.URL, "/")+"/v1/"),
		option.WithAPIKey(apiKey), option.WithMaxRetries(0), option.WithRequestTimeout(30*time.Second))
	resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:       svc.ModelName,
		Messages:    []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)},
		MaxTokens:   openai.Int(DefaultGoldenMaxTokens),
		Temperature: openai.Float(0),
		Seed:        openai.Int(42),
	})
	if err != nil {
		return "", fmt.Errorf("golden prompt on %s: %w", svc.Name, err)
	}
	if len(resp.Choices) == 0 {
		return "", fmt.Errorf("golden prompt on %s: no choices", svc.Name)
	}
	return resp.Choices[0].Message.Content, nil
}

// Scrape reads a model server's /metrics and parses it with expfmt.
func Scrape(ctx context.Context, baseURL string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(baseURL, "/")+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", baseURL, err)
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", baseURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, fmt.Errorf("scrape %s: status %d", baseURL, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: parse: %w", baseURL, err)
	}
	return fams, nil
}

// Sum adds up every sample value of a gauge or counter family (0 if absent).
func Sum(fams map[string]*dto.MetricFamily, name string) float64 {
	f, ok := fams[name]
	if !ok {
		return 0
	}
	var s float64
	for _, m := range f.GetMetric() {
		switch {
		case m.Gauge != nil:
			s += m.GetGauge().GetValue()
		case m.Counter != nil:
			s += m.GetCounter().GetValue()
		case m.Untyped != nil:
			s += m.GetUntyped().GetValue()
		}
	}
	return s
}

// HistSumCount adds up a histogram family's sample sum and count.
func HistSumCount(fams map[string]*dto.MetricFamily, name string) (sum float64, count uint64) {
	f, ok := fams[name]
	if !ok {
		return 0, 0
	}
	for _, m := range f.GetMetric() {
		if h := m.GetHistogram(); h != nil {
			sum += h.GetSampleSum()
			count += h.GetSampleCount()
		}
	}
	return sum, count
}

// Drain polls the model server's vllm:num_requests_running until it is 0,
// or fails with ErrDrainTimeout after timeout.
func Drain(ctx context.Context, baseURL string, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	var last float64
	var lastErr error
	for {
		fams, err := Scrape(ctx, baseURL)
		if err == nil {
			last = Sum(fams, MetricRequestsRunning)
			if last == 0 {
				return time.Since(start), nil
			}
		}
		lastErr = err
		if time.Now().After(deadline) {
			if lastErr != nil {
				return time.Since(start), fmt.Errorf("drain %s: %w: %v", baseURL, ErrDrainTimeout, lastErr)
			}
			return time.Since(start), fmt.Errorf("drain %s: %w: %v requests still running", baseURL, ErrDrainTimeout, last)
		}
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("drain %s: %w", baseURL, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitHealthy polls url+path until it answers 200.
func WaitHealthy(ctx context.Context, svc stack.Service, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	hc := &http.Client{Timeout: 2 * time.Second}
	path := svc.HealthPath
	if path == "" {
		path = "/health"
	}
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, svc.URL+path, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("status %d", resp.StatusCode)
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy after %s: %s", svc.Name, timeout, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s healthy: %w", svc.Name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
