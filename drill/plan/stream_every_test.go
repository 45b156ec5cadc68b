package plan

import (
	"strings"
	"testing"
)

// TestStreamEvery: a chat probe streams 1 in DefaultStreamEvery requests
// unless the plan says otherwise; other modes have no stream_every.
func TestStreamEvery(t *testing.T) {
	const steps = "steps: [{name: a, wait: 1s}]\n"
	for _, tc := range []struct {
		name, probe string
		want        *int // nil: none after Defaults
	}{
		{"default mode is chat", "", ptr(DefaultStreamEvery)},
		{"chat", "probe: {mode: chat}\n", ptr(DefaultStreamEvery)},
		{"chat every 3", "probe: {mode: chat, stream_every: 3}\n", ptr(3)},
		{"chat never", "probe: {stream_every: 0}\n", ptr(0)},
		{"stream", "probe: {mode: stream}\n", nil},
		{"health", "probe: {mode: health}\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse("p.yaml", []byte("name: x\n"+tc.probe+steps))
			if err != nil {
				t.Fatal(err)
			}
			pr, _ := p.Defaults()
			switch got := pr.StreamEvery; {
			case tc.want == nil && got != nil:
				t.Errorf("stream_every %d, want none", *got)
			case tc.want != nil && (got == nil || *got != *tc.want):
				t.Errorf("stream_every %v, want %d", got, *tc.want)
			}
		})
	}
	for _, tc := range []struct{ name, probe, want string }{
		{"negative", "probe: {stream_every: -1}\n", "p.yaml:2:23: probe.stream_every: must be 0 (never stream) or more, got -1"},
		{"health", "probe: {mode: health, stream_every: 5}\n", "probe.stream_every: applies to mode chat only: mode health"},
		{"stream", "probe: {mode: stream, stream_every: 1}\n", "probe.stream_every: applies to mode chat only: mode stream"},
		{"not a number", "probe: {stream_every: often}\n", "probe.stream_every: want an integer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte("name: x\n"+tc.probe+steps))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func ptr(n int) *int { return &n }
