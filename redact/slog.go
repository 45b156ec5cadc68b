package redact

import (
	"context"
	"fmt"
	"log/slog"
)

// handler masks secrets in records before the next handler sees them.
type handler struct {
	next slog.Handler
	r    *Redactor
	// secret is set under a group whose name looks secret: every value
	// in it is masked whole.
	secret bool
}

// NewHandler wraps next so that every record's message and attributes
// reach it masked by r: string values, errors, Stringers and other values
// as they would print, attribute keys, nested groups, and the attributes of
// With. A value whose key looks secret (IsSecretName: api_key, password,
// Authorization) is masked whole, whatever it holds.
func NewHandler(next slog.Handler, r *Redactor) slog.Handler {
	if h, ok := next.(*handler); ok && h.r == r {
		return h
	}
	return &handler{next: next, r: r}
}

// Enabled implements slog.Handler.
func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a, h.secret))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs implements slog.Handler.
func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	masked := make([]slog.Attr, len(as))
	for i, a := range as {
		masked[i] = h.attr(a, h.secret)
	}
	return &handler{next: h.next.WithAttrs(masked), r: h.r, secret: h.secret}
}

// WithGroup implements slog.Handler.
func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(name), r: h.r, secret: h.secret || IsSecretName(name)}
}

// attr masks a; secret masks every value whole.
func (h *handler) attr(a slog.Attr, secret bool) slog.Attr {
	secret = secret || IsSecretName(a.Key)
	a.Key = h.r.String(a.Key)
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		in := v.Group()
		out := make([]slog.Attr, len(in))
		for i, g := range in {
			out[i] = h.attr(g, secret)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	case slog.KindString:
		if secret && v.String() != "" {
			return slog.String(a.Key, Mask)
		}
		return slog.String(a.Key, h.r.String(v.String()))
	case slog.KindAny:
		s := printed(v.Any())
		if secret && s != "" {
			return slog.String(a.Key, Mask)
		}
		if m := h.r.String(s); m != s {
			return slog.String(a.Key, m)
		}
	default: // numbers, booleans, times, durations
		if secret {
			return slog.String(a.Key, Mask)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// printed is x as the text handler prints it (errors by Error, Stringers
// by String, byte slices as text, the rest with %+v).
func printed(x any) string {
	switch t := x.(type) {
	case nil:
		return ""
	case []byte:
		return string(t)
	case error, fmt.Stringer:
		return fmt.Sprint(t)
	}
	return fmt.Sprintf("%+v", x)
}
