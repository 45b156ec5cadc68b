package redact

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// benchTexts are what outputs carry: a clean log line, a log line with
// secrets, and a 1 MiB report-sized text (report.json of a long drill).
func benchTexts() map[string]string {
	clean := `time=2026-11-21T10:00:00.123Z level=INFO msg="step finished" plan=quarterly-dr step="kill GPU process of model-0" status=passed took=212ms` + "\n"
	dirty := `time=2026-11-21T10:00:00.123Z level=WARN msg="probe error" err="Get \"https://u:pw@gw:4000/v1/models?key=abc\": Authorization: Bearer sk-0123456789abcdefghij"` + "\n"
	var report strings.Builder
	for report.Len() < 1<<20 {
		fmt.Fprintf(&report, `    {"t": "2026-11-21T10:00:%02d.000Z", "requests": 50, "success": 1, "p95": 0.15, "step": "wait %d"},`+"\n", report.Len()%60, report.Len())
	}
	return map[string]string{"log-clean": clean, "log-secrets": dirty, "report-1MiB": report.String()}
}

// BenchmarkString sets masking beside a plain copy of the same bytes, with
// no known values and with 20 (a run knows a few: keys, env values).
func BenchmarkString(b *testing.B) {
	var keys []string
	for i := range 20 {
		keys = append(keys, fmt.Sprintf("known-secret-%02d-%x", i, i*7919))
	}
	for name, text := range benchTexts() {
		b.Run(name+"/copy", func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			src := []byte(text)
			for b.Loop() {
				_ = bytes.Clone(src)
			}
		})
		b.Run(name+"/patterns", func(b *testing.B) {
			r := New()
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				_ = r.String(text)
			}
		})
		b.Run(name+"/patterns+20-known", func(b *testing.B) {
			r := New(keys...)
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				_ = r.String(text)
			}
		})
	}
}

// BenchmarkHandler sets a masked slog text handler beside a plain one.
func BenchmarkHandler(b *testing.B) {
	attrs := []any{"plan", "quarterly-dr", "step", "kill GPU process of model-0", "status", "passed", "took", 212 * time.Millisecond}
	b.Run("plain", func(b *testing.B) {
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		for b.Loop() {
			log.Info("step finished", attrs...)
		}
	})
	b.Run("masked", func(b *testing.B) {
		log := slog.New(NewHandler(slog.NewTextHandler(io.Discard, nil), New("known-secret-0001")))
		for b.Loop() {
			log.Info("step finished", attrs...)
		}
	})
}
