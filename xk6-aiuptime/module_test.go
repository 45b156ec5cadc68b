package aiuptime

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.k6.io/k6/js/modulestest"
	"go.k6.io/k6/lib"
	"go.k6.io/k6/metrics"
)

const testKey = "sk-test-secret-key"

// sseServer is a local OpenAI-compatible server whose behaviour is chosen by
// the first path element, so one server covers the edge cases the fixtures
// cannot produce on demand.
// arrived, if not nil, receives a value when a "hang" request is held.
func sseServer(t *testing.T, arrived chan<- struct{}) *httptest.Server {
	t.Helper()
	chunk := func(content, finish string) string {
		fr := "null"
		if finish != "" {
			fr = fmt.Sprintf("%q", finish)
		}
		return fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":%q},"finish_reason":%s}]}`, content, fr)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testKey {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"Unauthorized"}`)
			return
		}
		mode, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		body, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(body), `"stream":true`) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set(headerBackend, "dep-a")
			_, _ = io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set(headerBackend, "dep-"+mode)
		fl := w.(http.Flusher)
		send := func(data string) {
			_, _ = fmt.Fprintf(w, "data: %s\n\n", data)
			fl.Flush()
		}
		switch mode {
		case "hang": // headers never come
			if arrived != nil {
				arrived <- struct{}{}
			}
			<-r.Context().Done()
			return
		}
		send(`{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`)
		send(chunk("a", ""))
		switch mode {
		case "stall":
			<-r.Context().Done()
			return
		case "midstream-error":
			send(`{"error":{"message":"engine died","type":"InternalServerError","param":null,"code":500}}`)
			send("[DONE]")
			return
		}
		send(chunk("b", ""))
		send(chunk("c", ""))
		switch mode {
		case "no-finish":
			send("[DONE]")
			return
		}
		send(chunk("", "stop"))
		switch mode {
		case "usage-null":
			send(`{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":null,"usage":{"prompt_tokens":3,"completion_tokens":3,"total_tokens":6}}`)
		case "no-done":
			return
		default:
			send(`{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":3,"total_tokens":6}}`)
		}
		send("[DONE]")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// testVU is a k6 VU with the module loaded, its samples collected.
type testVU struct {
	rt      *modulestest.Runtime
	samples chan metrics.SampleContainer
}

// newTestVU loads the module, runs initCode in the init context (as a script's
// top level would), then moves the VU to its run context.
func newTestVU(t *testing.T, initCode string) *testVU {
	t.Helper()
	rt := modulestest.NewRuntime(t)
	mi := New().NewModuleInstance(rt.VU)
	require.NoError(t, rt.VU.Runtime().Set("Client", mi.Exports().Named["Client"]))
	_, err := rt.VU.Runtime().RunString(initCode)
	require.NoError(t, err)

	registry := rt.VU.InitEnvField.Registry
	samples := make(chan metrics.SampleContainer, 1000)
	state := &lib.State{
		Options: lib.Options{
			SystemTags: &metrics.DefaultSystemTagSet,
		},
		BuiltinMetrics: rt.BuiltinMetrics,
		Samples:        samples,
		Transport:      http.DefaultTransport.(*http.Transport).Clone(),
		Tags:           lib.NewVUStateTags(registry.RootTagSet().With("scenario", "test")),
	}
	rt.MoveToVUContext(state)
	return &testVU{rt: rt, samples: samples}
}

// run executes code in the VU context and returns the script's result object.
func (v *testVU) run(t *testing.T, code string) map[string]any {
	t.Helper()
	val, err := v.rt.VU.Runtime().RunString(code)
	require.NoError(t, err)
	out := map[string]any{}
	obj := val.ToObject(v.rt.VU.Runtime())
	for _, k := range []string{"status", "ttft", "itl", "tpot", "e2e", "tokens", "outcome", "backend", "error", "content", "finishReason"} {
		out[k] = obj.Get(k).Export()
	}
	return out
}

// drained returns the samples emitted so far, by metric name.
func (v *testVU) drained() map[string][]metrics.Sample {
	byName := map[string][]metrics.Sample{}
	for _, sc := range metrics.GetBufferedSamples(v.samples) {
		for _, s := range sc.GetSamples() {
			byName[s.Metric.Name] = append(byName[s.Metric.Name], s)
		}
	}
	return byName
}

func clientInit(baseURL string, extra string) string {
	return fmt.Sprintf(`var client = new Client({baseURL: %q, apiKey: %q, model: "m"%s});`, baseURL, testKey, extra)
}

const streamCall = `client.stream({messages: [{role: "user", content: "hi"}], max_tokens: 8})`

func TestStreamOutcomes(t *testing.T) {
	t.Parallel()
	srv := sseServer(t, nil)
	for _, tc := range []struct {
		mode, outcome string
		tokens        int64
		errContains   string
	}{
		{"ok", OutcomeOK, 3, ""},
		{"usage-null", OutcomeOK, 3, ""},
		{"no-done", OutcomeTruncated, 3, "[DONE]"},
		{"no-finish", OutcomeTruncated, 3, "finish_reason"},
		{"midstream-error", OutcomeError, 1, "engine died"},
		{"stall", OutcomeStalled, 1, "stalled"},
		{"hang", OutcomeTimeout, 0, "timeout"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			vu := newTestVU(t, clientInit(srv.URL+"/"+tc.mode+"/v1", `, timeout: "2s", stallTimeout: 300`))
			r := vu.run(t, streamCall)
			assert.Equal(t, tc.outcome, r["outcome"], "result %v", r)
			assert.Equal(t, tc.tokens, r["tokens"])
			if tc.errContains == "" {
				assert.Empty(t, r["error"])
			} else {
				assert.Contains(t, r["error"], tc.errContains)
			}
			if tc.mode != "hang" {
				assert.EqualValues(t, 200, r["status"])
				assert.Equal(t, "dep-"+tc.mode, r["backend"])
				assert.Greater(t, r["ttft"], 0.0)
			}

			got := vu.drained()
			up := got[MetricUp]
			require.Len(t, up, 1)
			wantUp := 0.0
			if tc.outcome == OutcomeOK {
				wantUp = 1
			}
			assert.Equal(t, wantUp, up[0].Value)
			oc := got[MetricOutcome]
			require.Len(t, oc, 1)
			outcomeTag, _ := oc[0].Tags.Get(TagOutcome)
			assert.Equal(t, tc.outcome, outcomeTag)
			model, _ := up[0].Tags.Get(TagModel)
			assert.Equal(t, "m", model)
			scenario, _ := up[0].Tags.Get("scenario")
			assert.Equal(t, "test", scenario, "VU tags carry over")
			for name, ss := range got {
				for _, s := range ss {
					assert.NotContains(t, fmt.Sprint(s.Tags.Map(), s.Metadata), testKey, "key leaked into %s", name)
				}
			}
		})
	}
}

func TestStreamMetrics(t *testing.T) {
	t.Parallel()
	srv := sseServer(t, nil)
	vu := newTestVU(t, clientInit(srv.URL+"/ok/v1", ""))
	r := vu.run(t, streamCall)
	require.Equal(t, OutcomeOK, r["outcome"], "%v", r)
	assert.Equal(t, "abc", r["content"])
	assert.Equal(t, "stop", r["finishReason"])

	got := vu.drained()
	for name, n := range map[string]int{
		MetricTTFT: 1, MetricITL: 2, MetricTPOT: 1, MetricE2E: 1,
		MetricOutputTokens: 1, MetricOutcome: 1, MetricUp: 1,
		"http_reqs": 1, "http_req_duration": 1, "http_req_failed": 1,
	} {
		assert.Len(t, got[name], n, name)
	}
	backend, ok := got[MetricTTFT][0].Tags.Get(TagBackend)
	assert.True(t, ok)
	assert.Equal(t, "dep-ok", backend)
	assert.Equal(t, 3.0, got[MetricOutputTokens][0].Value)
	status, _ := got["http_reqs"][0].Tags.Get("status")
	assert.Equal(t, "200", status)
	assert.Equal(t, 0.0, got["http_req_failed"][0].Value)
}

func TestRequestTagsAndJSON(t *testing.T) {
	t.Parallel()
	srv := sseServer(t, nil)
	vu := newTestVU(t, clientInit(srv.URL+"/ok/v1", ""))
	val, err := vu.rt.VU.Runtime().RunString(`JSON.stringify(client.stream({messages: [{role: "user", content: "hi"}]}, {tags: {phase: "steady"}}))`)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(val.String()), &got), val.String())
	assert.Equal(t, "ok", got["outcome"])
	assert.Equal(t, "dep-ok", got["backend"])
	assert.EqualValues(t, 3, got["tokens"])
	up := vu.drained()[MetricUp]
	require.Len(t, up, 1)
	phase, _ := up[0].Tags.Get("phase")
	assert.Equal(t, "steady", phase)
	_, err = vu.rt.VU.Runtime().RunString(`client.chat({messages: []}, {tagz: {}})`)
	require.ErrorContains(t, err, "unknown request option")
}

func TestChat(t *testing.T) {
	t.Parallel()
	srv := sseServer(t, nil)
	vu := newTestVU(t, clientInit(srv.URL+"/ok/v1", ""))
	r := vu.run(t, `client.chat({messages: [{role: "user", content: "hi"}], max_tokens: 8, temperature: 0})`)
	assert.Equal(t, OutcomeOK, r["outcome"], "%v", r)
	assert.EqualValues(t, 2, r["tokens"])
	assert.Equal(t, "hello", r["content"])
	assert.Equal(t, "dep-a", r["backend"])
	got := vu.drained()
	assert.Len(t, got[MetricE2E], 1)
	assert.Empty(t, got[MetricTTFT], "no TTFT without a stream")
}

func TestUnauthorized(t *testing.T) {
	t.Parallel()
	srv := sseServer(t, nil)
	vu := newTestVU(t, `var client = new Client({baseURL: "`+srv.URL+`/ok/v1", apiKey: "wrong-key", model: "m"});`)
	r := vu.run(t, streamCall)
	assert.EqualValues(t, 401, r["status"])
	assert.Equal(t, OutcomeError, r["outcome"])
	assert.Equal(t, "http 401: Unauthorized", r["error"])
	got := vu.drained()
	assert.Equal(t, 1.0, got["http_req_failed"][0].Value)
	assert.Equal(t, 0.0, got[MetricUp][0].Value)
}

func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	vu := newTestVU(t, clientInit(url+"/v1", ""))
	r := vu.run(t, streamCall)
	assert.Equal(t, OutcomeError, r["outcome"])
	assert.EqualValues(t, 0, r["status"])
	assert.Contains(t, r["error"], "refused")
}

func TestVUContextCancelEndsRequest(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	srv := sseServer(t, arrived)
	vu := newTestVU(t, clientInit(srv.URL+"/hang/v1", `, timeout: "1h", stallTimeout: 0`))
	go func() {
		<-arrived // the request is in flight: end the test
		vu.rt.CancelContext()
	}()
	r := vu.run(t, streamCall)
	assert.Equal(t, OutcomeError, r["outcome"])
	assert.Contains(t, r["error"], "test ended")
	assert.Empty(t, vu.drained(), "no samples after the test ended")
}

func TestMisuseThrows(t *testing.T) {
	t.Parallel()
	for name, code := range map[string]string{
		"no options":     `new Client()`,
		"no baseURL":     `new Client({model: "m"})`,
		"bad scheme":     `new Client({baseURL: "ftp://x"})`,
		"unknown option": `new Client({baseURL: "http://x", apikey: "k"})`,
		"bad timeout":    `new Client({baseURL: "http://x", timeout: "soon"})`,
	} {
		t.Run(name, func(t *testing.T) {
			rt := modulestest.NewRuntime(t)
			mi := New().NewModuleInstance(rt.VU)
			require.NoError(t, rt.VU.Runtime().Set("Client", mi.Exports().Named["Client"]))
			_, err := rt.VU.Runtime().RunString(code)
			require.Error(t, err)
		})
	}
	t.Run("request in init context", func(t *testing.T) {
		rt := modulestest.NewRuntime(t)
		mi := New().NewModuleInstance(rt.VU)
		require.NoError(t, rt.VU.Runtime().Set("Client", mi.Exports().Named["Client"]))
		_, err := rt.VU.Runtime().RunString(`new Client({baseURL: "http://127.0.0.1:1/v1", model: "m"}).chat({messages: []})`)
		require.ErrorContains(t, err, "init context")
	})
	t.Run("no messages", func(t *testing.T) {
		vu := newTestVU(t, clientInit("http://127.0.0.1:1/v1", ""))
		_, err := vu.rt.VU.Runtime().RunString(`client.chat({max_tokens: 1})`)
		require.ErrorContains(t, err, "messages")
	})
}

// TestNoGoroutineLeak runs every kind of ending (ok, truncated, error event,
// stall, timeout) and checks that, once idle connections are closed, the
// goroutine count returns to where it was: no watchdog, body reader or
// request goroutine is left behind.
func TestNoGoroutineLeak(t *testing.T) {
	srv := sseServer(t, nil)
	vu := newTestVU(t, clientInit(srv.URL+"/ok/v1", `, timeout: "1s", stallTimeout: 200`))
	tr := vu.rt.VU.State().Transport.(*http.Transport)
	settle := func() int {
		tr.CloseIdleConnections()
		srv.CloseClientConnections()
		return runtime.NumGoroutine()
	}
	before := settle()
	for _, mode := range []string{"ok", "no-done", "midstream-error", "stall", "hang", "usage-null"} {
		_, err := vu.rt.VU.Runtime().RunString(fmt.Sprintf(
			`new Client({baseURL: %q, apiKey: %q, model: "m", timeout: "1s", stallTimeout: 200}).stream({messages: [{role: "user", content: "x"}]})`,
			srv.URL+"/"+mode+"/v1", testKey))
		require.NoError(t, err)
	}
	vu.drained()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := settle()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
