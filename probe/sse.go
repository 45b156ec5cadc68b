package probe

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// maxSSELine bounds one SSE line, so a broken server cannot make the probe
// buffer without limit.
const maxSSELine = 1 << 20

// maxErrLen bounds error texts kept in a Result.
const maxErrLen = 200

// errLineTooLong is returned when one SSE line exceeds maxSSELine.
var errLineTooLong = errors.New("sse line too long")

// streamSummary is what an OpenAI-style SSE stream said.
type streamSummary struct {
	Done         bool   // saw data: [DONE]
	FinishReason string // last non-empty finish_reason
	Err          string // an error object in the stream, or an unparsable chunk
	Chunks       int    // events carrying content
	UsageTokens  int    // usage.completion_tokens, when the server sent usage
}

type sseChunk struct {
	Error   json.RawMessage `json:"error"`
	Choices []struct {
		Delta *struct {
			Content          *string `json:"content"`
			ReasoningContent *string `json:"reasoning_content"`
		} `json:"delta"`
		Text         *string `json:"text"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

// parseStream reads an SSE stream of OpenAI chat completion chunks until
// EOF, [DONE] or an error, calling onToken for every event that carries
// content. The returned error is a read error (including a cancelled
// request); protocol problems land in the summary.
//
// It follows the SSE rules that matter in practice: lines end in \n or
// \r\n, "data:" takes an optional single space, several data lines of one
// event are joined with \n, lines starting with ':' are comments, other
// fields are ignored, and an event is dispatched at a blank line (or at EOF,
// leniently).
func parseStream(r io.Reader, onToken func()) (streamSummary, error) {
	var (
		s    streamSummary
		br   = bufio.NewReaderSize(r, 4096)
		data []byte
		has  bool
		line []byte
	)
	dispatch := func() bool {
		if !has {
			return false
		}
		stop := s.event(data, onToken)
		data, has = data[:0], false
		return stop
	}
	for {
		var err error
		line, err = readLine(br, line[:0])
		if len(line) > 0 || err == nil {
			if len(line) == 0 {
				if dispatch() {
					return s, nil
				}
			} else if line[0] != ':' {
				field, value := line, []byte(nil)
				if i := bytes.IndexByte(line, ':'); i >= 0 {
					field, value = line[:i], line[i+1:]
					if len(value) > 0 && value[0] == ' ' {
						value = value[1:]
					}
				}
				if string(field) == "data" {
					if has {
						data = append(data, '\n')
					}
					data = append(data, value...)
					has = true
				}
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				dispatch()
				return s, nil
			}
			return s, err
		}
	}
}

// event handles one dispatched data payload; it reports whether the stream
// is over ([DONE] or an error).
func (s *streamSummary) event(data []byte, onToken func()) bool {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return false
	}
	if string(data) == "[DONE]" {
		s.Done = true
		return true
	}
	var c sseChunk
	if err := json.Unmarshal(data, &c); err != nil {
		s.Err = clip("invalid stream chunk: " + err.Error())
		return true
	}
	if len(c.Error) > 0 && string(c.Error) != "null" {
		s.Err = clip("stream error: " + errorText(c.Error))
		return true
	}
	token := false
	for _, ch := range c.Choices {
		if ch.Delta != nil {
			if (ch.Delta.Content != nil && *ch.Delta.Content != "") ||
				(ch.Delta.ReasoningContent != nil && *ch.Delta.ReasoningContent != "") {
				token = true
			}
		}
		if ch.Text != nil && *ch.Text != "" {
			token = true
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			s.FinishReason = *ch.FinishReason
		}
	}
	if token {
		s.Chunks++
		if onToken != nil {
			onToken()
		}
	}
	if c.Usage != nil && c.Usage.CompletionTokens > 0 {
		s.UsageTokens = c.Usage.CompletionTokens
	}
	return false
}

// readLine appends one line without its terminator (\n or \r\n) to buf.
func readLine(br *bufio.Reader, buf []byte) ([]byte, error) {
	for {
		frag, err := br.ReadSlice('\n')
		buf = append(buf, frag...)
		if len(buf) > maxSSELine {
			return buf[:0], errLineTooLong
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		n := len(buf)
		if n > 0 && buf[n-1] == '\n' {
			n--
			if n > 0 && buf[n-1] == '\r' {
				n--
			}
		}
		return buf[:n], err
	}
}

// errorText extracts a message from an OpenAI, vLLM or bare error value.
func errorText(raw json.RawMessage) string {
	var env struct {
		Message string `json:"message"`
		Type    string `json:"type"`
	}
	if json.Unmarshal(raw, &env) == nil && env.Message != "" {
		return env.Message
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// clip bounds an error text.
func clip(s string) string {
	if len(s) > maxErrLen {
		return s[:maxErrLen]
	}
	return s
}

// bodyError summarises a non-2xx response body for Result.Err.
func bodyError(code int, body []byte) string {
	body = bytes.TrimSpace(body)
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	msg := ""
	if json.Unmarshal(body, &env) == nil && len(env.Error) > 0 {
		msg = errorText(env.Error)
	} else if len(body) > 0 {
		msg = string(body)
	}
	if msg == "" {
		return fmt.Sprintf("http %d", code)
	}
	return clip(fmt.Sprintf("http %d: %s", code, msg))
}
