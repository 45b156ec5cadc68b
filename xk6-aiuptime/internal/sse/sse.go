// Package sse parses OpenAI chat-completions event streams as vLLM, LiteLLM
// and OpenAI send them, tolerating what real servers do wrong.
package sse

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Outcome names, as they appear in results and in the outcome tag. They match
// the harness's probe outcomes.
const (
	OutcomeOK        = "ok"
	OutcomeError     = "error"
	OutcomeTimeout   = "timeout"
	OutcomeTruncated = "truncated"
	OutcomeStalled   = "stalled"
)

// MaxLine bounds one SSE line; a longer line ends the stream with ErrLineTooLong.
const MaxLine = 1 << 20

// Stats is what a chat-completions SSE stream told us.
type Stats struct {
	// TTFT is the time from start to the first content token (0 if none).
	TTFT time.Duration
	// ITL holds the gaps between consecutive content chunks.
	ITL []time.Duration
	// Chunks counts content-bearing chunks.
	Chunks int
	// UsageTokens is usage.completion_tokens when the server sent usage.
	UsageTokens int
	// Done reports that `data: [DONE]` arrived.
	Done bool
	// FinishReason is the last non-empty finish_reason seen.
	FinishReason string
	// ErrorMessage is set when the stream carried an error event or was not
	// valid SSE/JSON.
	ErrorMessage string
	// Content is the concatenated delta content, up to MaxContent bytes.
	Content []byte
}

// MaxContent bounds how much of the answer a stream result keeps.
const MaxContent = 64 << 10

// Tokens is the number of output tokens: the server's usage when sent,
// otherwise the number of content chunks (one token per chunk, as vLLM sends).
func (s *Stats) Tokens() int {
	if s.UsageTokens > 0 {
		return s.UsageTokens
	}
	return s.Chunks
}

// Outcome classifies a stream that ended without a transport error: an error
// event wins, then a missing [DONE] or finish_reason (truncated).
func (s *Stats) Outcome() string {
	switch {
	case s.ErrorMessage != "":
		return OutcomeError
	case !s.Done || s.FinishReason == "":
		return OutcomeTruncated
	default:
		return OutcomeOK
	}
}

// chunk is the subset of a chat.completion.chunk (or an error event) we read.
// Choices is a slice so that both `[]` and `null` decode to empty.
type chunk struct {
	Choices []struct {
		Delta struct {
			Content   *string `json:"content"`
			Reasoning *string `json:"reasoning_content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// ErrorText renders an error event's payload: the message of an OpenAI
// envelope, or the raw value (vLLM's `{"error":"Unauthorized"}`).
func ErrorText(raw json.RawMessage) string {
	var env struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &env) == nil && env.Message != "" {
		return Truncate(env.Message)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil && s != "" {
		return Truncate(s)
	}
	return Truncate(string(raw))
}

// Truncate keeps error texts short enough for results and logs.
func Truncate(s string) string {
	const n = 256
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Parse reads an OpenAI chat-completions SSE stream from r until
// [DONE], an error event, EOF or a read error. now is the clock and start the
// request's send time. onLine, if not nil, is called after every line read
// (the stall watchdog resets there). It returns the read error, if any, that
// ended the stream early (io.EOF is not an error: a missing [DONE] shows up
// as a truncated outcome).
//
// Tolerated, as real servers send them: comments and event:/id:/retry: fields,
// blank lines, CRLF endings, `data:` with or without a space, usage chunks with
// `choices: []` or `choices: null`, role-only and empty-content deltas.
func Parse(r io.Reader, start time.Time, now func() time.Time, onLine func()) (*Stats, error) {
	st := &Stats{}
	br := bufio.NewReaderSize(r, 16<<10)
	var last time.Time
	for {
		line, err := readLine(br)
		if onLine != nil && (len(line) > 0 || err == nil) {
			onLine()
		}
		if len(line) > 0 {
			if stop := st.handleLine(line, start, &last, now); stop {
				return st, nil
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return st, nil
			}
			return st, err
		}
	}
}

// ErrLineTooLong ends a stream whose line exceeds MaxLine.
var ErrLineTooLong = errors.New("sse line too long")

// readLine returns one line without its \n or \r\n ending.
func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		frag, err := br.ReadSlice('\n')
		buf = append(buf, frag...)
		if len(buf) > MaxLine {
			return nil, ErrLineTooLong
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		buf = bytes.TrimRight(buf, "\r\n")
		return buf, err
	}
}

// handleLine processes one non-empty line and reports whether the stream is
// over ([DONE] or an error event).
func (st *Stats) handleLine(line []byte, start time.Time, last *time.Time, now func() time.Time) bool {
	data, ok := bytes.CutPrefix(line, []byte("data:"))
	if !ok {
		return false // comment, event:, id:, retry:
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return false
	}
	if bytes.Equal(data, []byte("[DONE]")) {
		st.Done = true
		return true
	}
	var c chunk
	if err := json.Unmarshal(data, &c); err != nil {
		st.ErrorMessage = Truncate(fmt.Sprintf("malformed chunk: %v", err))
		return true
	}
	if len(c.Error) > 0 && !bytes.Equal(c.Error, []byte("null")) {
		st.ErrorMessage = ErrorText(c.Error)
		return true
	}
	if c.Usage != nil && c.Usage.CompletionTokens > 0 {
		st.UsageTokens = c.Usage.CompletionTokens
	}
	for _, ch := range c.Choices {
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			st.FinishReason = *ch.FinishReason
		}
		text := ""
		if ch.Delta.Content != nil {
			text = *ch.Delta.Content
		} else if ch.Delta.Reasoning != nil {
			text = *ch.Delta.Reasoning
		}
		if text == "" {
			continue
		}
		t := now()
		if st.Chunks == 0 {
			st.TTFT = t.Sub(start)
		} else {
			st.ITL = append(st.ITL, t.Sub(*last))
		}
		*last = t
		st.Chunks++
		if room := MaxContent - len(st.Content); room > 0 {
			if len(text) > room {
				text = text[:room]
			}
			st.Content = append(st.Content, text...)
		}
	}
	return false
}
