package k6run

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/aiuptime/aiuptime/probe"
)

// WithPointsPath makes k6 stream every sample to path (`--out json=PATH`), so
// ReadRequests can rebuild one record per request for timelines. Run masks
// the file's secrets (a URL's password in a tag) once k6 has finished.
func WithPointsPath(path string) Option {
	return func(o *options) error {
		if path == "" {
			return fmt.Errorf("empty points path")
		}
		o.args = append(o.args, "--out", "json="+path)
		o.points = path
		return nil
	}
}

// Request is one request of the extension, rebuilt from k6's JSON output.
type Request struct {
	// End is when the request finished (the samples' time).
	End     time.Time
	E2E     time.Duration
	TTFT    time.Duration // 0 for non-streaming requests
	Tokens  int
	Outcome string // ok, error, timeout, truncated, stalled
	Backend string
	Model   string
}

// Result converts the request to the harness's probe result, so k6 load can
// join the uptime timeline beside (or instead of) the probe.
func (r Request) Result(seq uint64) probe.Result {
	res := probe.Result{
		Seq:     seq,
		Start:   r.End.Add(-r.E2E),
		Latency: r.E2E,
		TTFT:    r.TTFT,
		Tokens:  r.Tokens,
		Backend: r.Backend,
	}
	switch r.Outcome {
	case "ok":
		res.Outcome = probe.OK
	case "timeout":
		res.Outcome = probe.Timeout
	case "truncated":
		res.Outcome = probe.Truncated
	case "stalled":
		res.Outcome = probe.Stalled
	default:
		res.Outcome = probe.Error
		res.Err = "k6: " + r.Outcome
	}
	return res
}

// point is one line of k6's JSON output.
type point struct {
	Type   string `json:"type"`
	Metric string `json:"metric"`
	Data   struct {
		Time  time.Time         `json:"time"`
		Value float64           `json:"value"`
		Tags  map[string]string `json:"tags"`
	} `json:"data"`
}

// ReadRequests reads a k6 JSON output file and returns the extension's
// requests in end-time order. The samples of one request share their time
// and tags; every request has exactly one aiuptime_stream_outcome sample,
// which anchors it.
func ReadRequests(path string) ([]Request, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open k6 points: %w", err)
	}
	defer func() { _ = f.Close() }()

	type key struct {
		t              int64
		model, backend string
		vu             string
	}
	byKey := map[key]*Request{}
	var order []key
	get := func(p *point) *Request {
		k := key{p.Data.Time.UnixNano(), p.Data.Tags["model"], p.Data.Tags["backend"], p.Data.Tags["vu"]}
		r, ok := byKey[k]
		if !ok {
			r = &Request{End: p.Data.Time, Model: k.model, Backend: k.backend}
			byKey[k] = r
			order = append(order, k)
		}
		return r
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	line := 0
	for sc.Scan() {
		line++
		var p point
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			return nil, fmt.Errorf("k6 points %s:%d: %w", path, line, err)
		}
		if p.Type != "Point" {
			continue
		}
		ms := time.Duration(p.Data.Value * float64(time.Millisecond))
		switch p.Metric {
		case MetricOutcome:
			get(&p).Outcome = p.Data.Tags["outcome"]
		case MetricE2E:
			get(&p).E2E = ms
		case MetricTTFT:
			get(&p).TTFT = ms
		case MetricOutputTokens:
			get(&p).Tokens = int(p.Data.Value)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read k6 points %s: %w", path, err)
	}
	out := make([]Request, 0, len(order))
	for _, k := range order {
		if r := byKey[k]; r.Outcome != "" {
			out = append(out, *r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].End.Before(out[j].End) })
	return out, nil
}
