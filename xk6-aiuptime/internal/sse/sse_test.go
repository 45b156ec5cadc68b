package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeClock advances by step on every call, so gaps are deterministic.
func fakeClock(start time.Time, step time.Duration) func() time.Time {
	t := start
	return func() time.Time { t = t.Add(step); return t }
}

func TestParseStream(t *testing.T) {
	t.Parallel()
	start := time.Unix(0, 0)
	for _, tc := range []struct {
		name, file string
		want       Stats
		outcome    string
	}{
		{"vllm with usage", "vllm_usage.sse", Stats{Chunks: 3, UsageTokens: 3, Done: true, FinishReason: "stop", Content: []byte("Hi there")}, OutcomeOK},
		{"choices null usage, CRLF, comments", "usage_null_crlf.sse", Stats{Chunks: 2, UsageTokens: 2, Done: true, FinishReason: "length", Content: []byte("ab")}, OutcomeOK},
		{"mid-stream error", "midstream_error.sse", Stats{Chunks: 1, ErrorMessage: "engine died", Content: []byte("x")}, OutcomeError},
		{"no done", "no_done.sse", Stats{Chunks: 2, FinishReason: "stop", Content: []byte("ab")}, OutcomeTruncated},
		{"no finish_reason", "no_finish.sse", Stats{Chunks: 2, Done: true, Content: []byte("ab")}, OutcomeTruncated},
		{"bare vllm error", "bare_error.sse", Stats{ErrorMessage: "Unauthorized"}, OutcomeError},
		{"garbage", "garbage.sse", Stats{ErrorMessage: "malformed chunk: invalid character 'o' in literal null (expecting 'u')"}, OutcomeError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(filepath.Join("testdata", "streams", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			// One byte per read: the parser must not depend on read boundaries.
			st, err := Parse(iotest.OneByteReader(bytes.NewReader(b)), start, fakeClock(start, time.Millisecond), nil)
			if err != nil {
				t.Fatalf("parseStream: %v", err)
			}
			if tc.want.Chunks > 0 {
				tc.want.TTFT = time.Millisecond
			}
			for i := 1; i < tc.want.Chunks; i++ {
				tc.want.ITL = append(tc.want.ITL, time.Millisecond)
			}
			if diff := cmp.Diff(&tc.want, st); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
			if got := st.Outcome(); got != tc.outcome {
				t.Errorf("outcome = %s, want %s", got, tc.outcome)
			}
		})
	}
}

func TestParseStreamReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"), iotest.ErrReader(boom))
	st, err := Parse(r, time.Now(), time.Now, nil)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if st.Chunks != 1 {
		t.Errorf("chunks = %d, want 1", st.Chunks)
	}
}

func TestParseStreamLineTooLong(t *testing.T) {
	t.Parallel()
	r := strings.NewReader("data: " + strings.Repeat("x", MaxLine+10) + "\n")
	if _, err := Parse(r, time.Now(), time.Now, nil); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("err = %v, want %v", err, ErrLineTooLong)
	}
}

// FuzzParseStream feeds arbitrary bytes to the parser. Invariants: it never
// panics, returns a known outcome, keeps counters consistent, and an ok
// outcome implies [DONE] and a finish_reason without an error.
func FuzzParseStream(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "streams", "*.sse"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Unix(0, 0)
		st, err := Parse(bytes.NewReader(data), start, fakeClock(start, time.Microsecond), nil)
		if err != nil && !errors.Is(err, ErrLineTooLong) {
			t.Fatalf("unexpected error from an in-memory reader: %v", err)
		}
		switch o := st.Outcome(); o {
		case OutcomeOK:
			if !st.Done || st.FinishReason == "" || st.ErrorMessage != "" {
				t.Fatalf("ok outcome with %+v", st)
			}
		case OutcomeError, OutcomeTruncated:
		default:
			t.Fatalf("unknown outcome %q", o)
		}
		if st.Chunks > 0 && len(st.ITL) != st.Chunks-1 {
			t.Fatalf("%d chunks but %d gaps", st.Chunks, len(st.ITL))
		}
		if st.Tokens() < 0 || len(st.Content) > MaxContent {
			t.Fatalf("bad counters: tokens %d, content %d", st.Tokens(), len(st.Content))
		}
	})
}

// BenchmarkParse measures parsing a 256-token vLLM-style stream with usage.
func BenchmarkParse(b *testing.B) {
	var buf bytes.Buffer
	for i := range 256 {
		fmt.Fprintf(&buf, "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok%d \"},\"logprobs\":null,\"finish_reason\":null}]}\n\n", i)
	}
	buf.WriteString("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"stop\"}]}\n\n")
	buf.WriteString("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":256,\"total_tokens\":261}}\n\ndata: [DONE]\n\n")
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		st, err := Parse(bytes.NewReader(data), time.Now(), time.Now, nil)
		if err != nil || st.Outcome() != OutcomeOK || st.Tokens() != 256 {
			b.Fatalf("parse: %v %+v", err, st)
		}
	}
}
