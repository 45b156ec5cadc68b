package probe

import (
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

func TestParseStream(t *testing.T) {
	chunk := func(content, finish string) string {
		f := "null"
		if finish != "" {
			f = `"` + finish + `"`
		}
		return `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"` + content + `"},"finish_reason":` + f + "}]}\n\n"
	}
	tests := []struct {
		name string
		in   string
		want streamSummary
	}{
		{"complete with usage choices []", chunk("a", "") + chunk("b", "") + chunk("", "stop") +
			`data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}` + "\n\ndata: [DONE]\n\n",
			streamSummary{Done: true, FinishReason: "stop", Chunks: 2, UsageTokens: 2}},
		{"usage choices null", chunk("a", "stop") + `data: {"choices":null,"usage":{"completion_tokens":1}}` + "\n\ndata: [DONE]\n\n",
			streamSummary{Done: true, FinishReason: "stop", Chunks: 1, UsageTokens: 1}},
		{"crlf and no space and comments", ": keepalive\r\n\r\ndata:{\"choices\":[{\"delta\":{\"content\":\"x\"},\"finish_reason\":\"length\"}]}\r\n\r\ndata:[DONE]\r\n\r\n",
			streamSummary{Done: true, FinishReason: "length", Chunks: 1}},
		{"role-only first chunk is not a token", `data: {"choices":[{"delta":{"role":"assistant"},"finish_reason":null}]}` + "\n\n" + chunk("a", "stop") + "data: [DONE]\n\n",
			streamSummary{Done: true, FinishReason: "stop", Chunks: 1}},
		{"mid-stream error then done", chunk("a", "") + `data: {"error":{"message":"engine died","type":"InternalServerError","code":500}}` + "\n\ndata: [DONE]\n\n",
			streamSummary{Chunks: 1, Err: "stream error: engine died"}},
		{"bare string error", `data: {"error":"boom"}` + "\n\n",
			streamSummary{Err: "stream error: boom"}},
		{"error null is no error", `data: {"error":null,"choices":[{"delta":{"content":"a"},"finish_reason":"stop"}]}` + "\n\ndata: [DONE]\n\n",
			streamSummary{Done: true, FinishReason: "stop", Chunks: 1}},
		{"missing done", chunk("a", "") + chunk("b", "stop"),
			streamSummary{FinishReason: "stop", Chunks: 2}},
		{"missing finish reason", chunk("a", "") + "data: [DONE]\n\n",
			streamSummary{Done: true, Chunks: 1}},
		{"cut mid event is dispatched leniently", chunk("a", "") + `data: {"choices":[{"delta":{"content":"b"}`,
			streamSummary{Chunks: 1, Err: "invalid stream chunk: unexpected end of JSON input"}},
		{"multi-line data joined", "data: {\"choices\":\ndata: [{\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
			streamSummary{Done: true, FinishReason: "stop", Chunks: 1}},
		{"completions text field", `data: {"choices":[{"text":"hi","finish_reason":"stop"}]}` + "\n\ndata: [DONE]\n\n",
			streamSummary{Done: true, FinishReason: "stop", Chunks: 1}},
		{"empty body", "", streamSummary{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tokens := 0
			// One byte at a time exercises line reassembly.
			got, err := parseStream(iotest.OneByteReader(strings.NewReader(tt.in)), func() { tokens++ })
			if err != nil {
				t.Fatalf("parseStream: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("summary (-want +got):\n%s", diff)
			}
			if tokens != got.Chunks {
				t.Errorf("onToken called %d times, chunks %d", tokens, got.Chunks)
			}
		})
	}
}

func TestParseStreamLineTooLong(t *testing.T) {
	in := "data: " + strings.Repeat("x", maxSSELine+10) + "\n\n"
	if _, err := parseStream(strings.NewReader(in), nil); err == nil {
		t.Fatal("want an error for an oversized line")
	}
}

func FuzzParseStream(f *testing.F) {
	f.Add("data: {\"choices\":[{\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
	f.Add("data: {\"choices\":[],\"usage\":{\"completion_tokens\":3}}\n\n")
	f.Add("data: {\"choices\":null}\r\n\r\n: c\r\ndata:[DONE]\r\n")
	f.Add("data: {\"error\":{\"message\":\"x\"}}\n\n")
	f.Add("event: x\nid: 1\nretry: 5\ndata\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		n := 0
		s, err := parseStream(strings.NewReader(in), func() { n++ })
		if err != nil {
			return
		}
		if n != s.Chunks {
			t.Fatalf("onToken %d != chunks %d", n, s.Chunks)
		}
		if s.Done && s.Err != "" {
			t.Fatalf("done and error at once: %+v", s)
		}
		if len(s.Err) > maxErrLen {
			t.Fatalf("error text not clipped: %d bytes", len(s.Err))
		}
	})
}
