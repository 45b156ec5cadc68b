package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

type credentials struct {
	User     string
	Password string
}

type stringer string

func (s stringer) String() string { return "str " + string(s) }

func TestHandlerMasksEveryPlace(t *testing.T) {
	const secret = "log-canary-0123456789"
	for _, kind := range []string{"text", "json"} {
		t.Run(kind, func(t *testing.T) {
			var buf bytes.Buffer
			var next slog.Handler = slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
			if kind == "json" {
				next = slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
			}
			log := slog.New(NewHandler(next, New(secret)))
			log = log.With("with", "w "+secret, slog.Group("g", "inner", secret))
			log.WithGroup("grp").Info("message "+secret, "s", secret, "err", fmt.Errorf("wrap: %w", errors.New("boom "+secret)),
				"url", "https://u:pw-in-url@h/?key=q-secret", "api_key", "short", "nested", slog.GroupValue(slog.String("deep", secret),
					slog.Group("deeper", "token", 42)), "any", credentials{User: "u", Password: "struct-pw"}, "stringer", stringer(secret),
				"bytes", []byte(secret), "n", 7)
			log.WithGroup("credentials").Debug("in a secret group", "user", "plain-user-name")
			out := buf.String()
			for _, leak := range []string{secret, "pw-in-url", "q-secret", "short", "struct-pw", "plain-user-name"} {
				if strings.Contains(out, leak) {
					t.Errorf("%q leaked:\n%s", leak, out)
				}
			}
			for _, keep := range []string{"message", "boom", "wrap", "https://u:", "inner", "deeper", "n"} {
				if !strings.Contains(out, keep) {
					t.Errorf("%q went missing:\n%s", keep, out)
				}
			}
			if kind == "json" {
				for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
					if !json.Valid([]byte(line)) {
						t.Errorf("not JSON: %s", line)
					}
				}
			}
		})
	}
}

func TestHandlerKeepsCleanValues(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil), New("unused-secret-1")))
	log.Info("clean", "obj", map[string]int{"a": 1}, "d", 3)
	if !strings.Contains(buf.String(), `"obj":{"a":1}`) {
		t.Errorf("a clean structured value was flattened: %s", buf.String())
	}
}

func TestNewHandlerWrapsOnce(t *testing.T) {
	r := New()
	h := NewHandler(slog.DiscardHandler, r)
	if NewHandler(h, r) != h {
		t.Error("wrapping twice")
	}
}
