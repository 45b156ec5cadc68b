// Package redact removes secrets from text before it reaches any output of
// the harness: logs, errors, stdout and stderr, report.json/md/html, JUnit,
// drill.prom and what k6 prints. One Redactor serves every output of a run.
//
// It masks two kinds of secrets with [REDACTED]:
//   - known values, added at run time (the stack's API keys, the values of
//     secret-named environment variables, what Learn finds in plan and stack
//     files), also in the escaped forms JSON, HTML, XML and URLs give them;
//   - what looks like a secret wherever it appears (see nextSpan): URL
//     passwords, the values of secret-named query parameters, headers,
//     fields and variables, Bearer tokens and sk- keys.
//
// Known values shorter than MinSecretLen bytes are not added: masking every
// "admin" or "true" would shred the text. The patterns still apply to them
// (api_key=admin is masked).
//
//	r := redact.New()
//	r.AddEnv(os.Environ())
//	r.Add(st.APIKey())
//	log := slog.New(redact.NewHandler(slog.NewTextHandler(os.Stderr, nil), r))
//	fmt.Fprintln(r.Writer(os.Stderr), err)
package redact

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"html"
	"html/template"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Mask replaces every secret.
const Mask = "[REDACTED]"

// MinSecretLen is the shortest known value Add accepts, in bytes.
const MinSecretLen = 8

// MaxKnown bounds how many known values Learn and LearnValue bring a
// Redactor to (a hostile plan can hold thousands of ?key= values; the
// patterns that found them still mask them where they stand). Add is not
// bounded: the stack's keys always get in. Building the masks of 4096
// values takes about 0.2 s; masking does not slow down with their number.
const MaxKnown = 4096

// Redactor masks secrets in text. The zero value and nil mask by pattern
// only; Add teaches it values. It is safe for concurrent use.
type Redactor struct {
	mu    sync.Mutex // serialises Add
	known atomic.Pointer[known]
}

// known is an immutable set of values and the replacer for all their forms.
type known struct {
	values map[string]bool
	rep    *strings.Replacer
}

// New returns a Redactor that knows values (see Add).
func New(values ...string) *Redactor {
	r := &Redactor{}
	r.Add(values...)
	return r
}

// Add teaches r secret values: every later output masks them, raw and in
// their JSON, HTML, XML and URL-escaped forms. Values shorter than
// MinSecretLen bytes are ignored; a value with surrounding white space is
// also added trimmed. Add always adds; only what Learn and LearnValue find
// stops at MaxKnown.
func (r *Redactor) Add(values ...string) { r.add(values, false) }

// add adds values; capped stops at MaxKnown values.
func (r *Redactor) add(values []string, capped bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.known.Load()
	var fresh []string
	for _, v := range values {
		for _, c := range []string{v, strings.TrimSpace(v)} {
			if len(c) >= MinSecretLen && (old == nil || !old.values[c]) {
				fresh = append(fresh, c)
			}
		}
	}
	if len(fresh) == 0 {
		return
	}
	k := &known{values: map[string]bool{}}
	if old != nil {
		maps.Copy(k.values, old.values)
	}
	n := len(k.values)
	for _, c := range fresh {
		if !capped || len(k.values) < MaxKnown {
			k.values[c] = true
		}
	}
	if len(k.values) == n {
		return
	}
	var all []string
	for v := range k.values {
		all = append(all, Forms(v)...)
	}
	// At one position the first matching old string wins: longest first.
	slices.SortFunc(all, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(all))
	for _, f := range all {
		pairs = append(pairs, f, Mask)
	}
	k.rep = strings.NewReplacer(pairs...)
	r.known.Store(k)
}

// AddNamed adds value when name looks secret (IsSecretName), and whatever
// secrets value holds itself (Learn): a URL's password, a Bearer token.
func (r *Redactor) AddNamed(name, value string) {
	if IsSecretName(name) {
		r.Add(value)
	}
	r.Learn(value)
}

// AddEnv adds the values of secret-named variables of environ ("K=V"
// entries, as os.Environ returns) and the secrets any value holds. PWD and
// OLDPWD are the shell's working directories, not passwords: masking them
// would mask every path under the directory a drill was started from.
func (r *Redactor) AddEnv(environ []string) {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			if k == "PWD" || k == "OLDPWD" {
				r.Learn(v)
				continue
			}
			r.AddNamed(k, v)
		}
	}
}

// Learn adds the secrets the patterns find in s (a URL's password, the
// value of ?key=, a Bearer token, an sk- key) as known values, so that they
// are masked wherever they appear later, also without their context.
func (r *Redactor) Learn(s string) { r.add(found(s, nil), true) }

// found appends to out the secrets the patterns find in s.
func found(s string, out []string) []string {
	for i := 0; ; {
		sp, ok := nextSpan(s, i)
		if !ok {
			return out
		}
		out = append(out, s[sp.start:sp.end])
		i = sp.end
	}
}

// Len is how many known values r masks.
func (r *Redactor) Len() int {
	if r == nil {
		return 0
	}
	if k := r.known.Load(); k != nil {
		return len(k.values)
	}
	return 0
}

// String returns s with every secret masked.
func (r *Redactor) String(s string) string {
	if r != nil {
		if k := r.known.Load(); k != nil {
			s = k.rep.Replace(s)
		}
	}
	sp, ok := nextSpan(s, 0)
	if !ok {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + len(Mask))
	last := 0
	for ok {
		b.WriteString(s[last:sp.start])
		b.WriteString(Mask)
		last = sp.end
		sp, ok = nextSpan(s, last)
	}
	b.WriteString(s[last:])
	return b.String()
}

// Bytes returns b with every secret masked: b itself when it holds none.
func (r *Redactor) Bytes(b []byte) []byte {
	s := string(b)
	out := r.String(s)
	if out == s {
		return b
	}
	return []byte(out)
}

// Forms are v and the escaped forms JSON (with and without HTML escaping),
// HTML (html, text/template and html/template), XML and URLs give it: the
// forms a Redactor masks for a known value, and the forms a test looks
// for when it proves a canary is gone.
func Forms(v string) []string {
	out := []string{v}
	add := func(f string) {
		if f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	add(jsonString(v, true))
	add(jsonString(v, false))
	h := html.EscapeString(v)
	add(h)
	q := strings.ReplaceAll(h, "&#34;", "&quot;")
	add(q)
	add(strings.ReplaceAll(q, "&#39;", "&apos;"))
	add(strings.ReplaceAll(q, "&#39;", "&#x27;"))
	add(template.HTMLEscapeString(v))
	add(htmlTemplateText.Replace(v))
	var b bytes.Buffer
	if xml.EscapeText(&b, []byte(v)) == nil {
		add(b.String())
	}
	add(url.QueryEscape(v))
	add(url.PathEscape(v))
	return out
}

// htmlTemplateText escapes like html/template in text context (+ becomes
// &#43;, NUL the replacement character).
var htmlTemplateText = strings.NewReplacer("\x00", "\uFFFD", `"`, "&#34;", "&", "&amp;", "'", "&#39;", "+", "&#43;", "<", "&lt;", ">", "&gt;")

// jsonString is v as a JSON string without its quotes.
func jsonString(v string, escapeHTML bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	if enc.Encode(v) != nil {
		return ""
	}
	s := strings.TrimSuffix(b.String(), "\n")
	return s[1 : len(s)-1]
}
