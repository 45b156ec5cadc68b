package redact

import "strings"

// span is a byte range [start, end) of a text to mask.
type span struct{ start, end int }

// nextSpan is the first span at or after s[i] that the patterns mark as
// secret:
//   - the password of URL userinfo (scheme://user:PASSWORD@host);
//   - the value after a secret-looking name and = (query parameters,
//     environment variables, slog text attributes: ?key=V, API_KEY=V);
//   - the value after a secret-looking name and : (headers, YAML, JSON,
//     Go maps: X-Api-Key: V, "password": "V", map[token:V]);
//   - the credentials after an auth scheme (Authorization: Bearer V, Basic V);
//   - Bearer tokens anywhere (Bearer V);
//   - sk- keys (sk-V).
//
// Values may be bare (up to a space, quote, & , ; ) ] } | # < > or
// backslash) or quoted with ", ', \" (JSON inside JSON) or the HTML and
// XML entities for quotes. Spans found one after the other never overlap.
func nextSpan(s string, i int) (span, bool) {
	for ; i < len(s); i++ {
		var sp span
		var ok bool
		switch s[i] {
		case '=':
			sp, ok = assignment(s, i)
		case ':':
			if strings.HasPrefix(s[i:], "://") {
				sp, ok = userinfo(s, i+3)
			} else {
				sp, ok = field(s, i)
			}
		case 'B', 'b':
			sp, ok = bearer(s, i)
		case 's':
			sp, ok = skKey(s, i)
		}
		if ok {
			return sp, true
		}
	}
	return span{}, false
}

// assignment masks the value of NAME=VALUE when NAME looks secret.
func assignment(s string, i int) (span, bool) {
	name := nameBefore(s, i)
	if !secretName(name, true) {
		return span{}, false
	}
	return valueAfter(s, i+1, false)
}

// field masks the value of NAME: VALUE when NAME looks secret. A bare name
// must start a field (at the start, or after white space, { [ ( , ; a quote
// or |) and hold no dot, so that error paths such as params.api_key: keep
// the message that follows.
func field(s string, i int) (span, bool) {
	name := nameBefore(s, i)
	if name == "" || !secretName(name, false) {
		return span{}, false
	}
	if s[i-1] != '"' && s[i-1] != '\'' {
		if strings.IndexByte(name, '.') >= 0 {
			return span{}, false
		}
		if start := i - len(name); start > 0 && !strings.ContainsRune(" \t\n\r{[(,;\"'`|", rune(s[start-1])) {
			return span{}, false
		}
	}
	return valueAfter(s, i+1, true)
}

// nameBefore returns the name that ends right before s[i]: a run of name
// bytes, or a quoted name ("name", 'name', \"name\").
func nameBefore(s string, i int) string {
	end := i
	quote := byte(0)
	if end > 0 && (s[end-1] == '"' || s[end-1] == '\'') {
		quote = s[end-1]
		end--
		if end > 0 && s[end-1] == '\\' {
			end--
		}
	}
	k := end
	for k > 0 && end-k < maxName && isNameByte(s[k-1]) {
		k--
	}
	if quote != 0 && (k == 0 || s[k-1] != quote) {
		return ""
	}
	return s[k:end]
}

func isNameByte(c byte) bool { return isAlnum(c) || c == '_' || c == '-' || c == '.' }

// quotes are the openings of a quoted value and their closings.
var quotes = [...]struct{ open, close string }{
	{`\"`, `\"`}, {`"`, `"`}, {`'`, `'`},
	{"&#34;", "&#34;"}, {"&quot;", "&quot;"}, {"&#39;", "&#39;"}, {"&apos;", "&apos;"},
}

// valueAfter is the value that starts at s[i] (after spaces when colon),
// past an auth scheme (Bearer, Basic, ...) when there is one.
func valueAfter(s string, i int, colon bool) (span, bool) {
	if colon {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
	}
	if strings.HasPrefix(s[i:], Mask) { // already masked
		return span{}, false
	}
	if i < len(s) && s[i] == '[' { // Go's %v of a []string, http.Header
		i++
	}
	if i >= len(s) {
		return span{}, false
	}
	sp, ok := quoted(s, i)
	if !ok {
		if strings.IndexByte("{(<", s[i]) >= 0 {
			return span{}, false
		}
		sp = span{i, bareEnd(s, i)}
	}
	if sp.end <= sp.start {
		return span{}, false
	}
	sp = pastScheme(s, sp)
	if strings.HasPrefix(s[sp.start:], Mask) { // "Bearer [REDACTED]": masked already
		return span{}, false
	}
	return sp, true
}

// quoted is the inside of a quoted value starting at s[i].
func quoted(s string, i int) (span, bool) {
	for _, q := range quotes {
		if !strings.HasPrefix(s[i:], q.open) {
			continue
		}
		start := i + len(q.open)
		end := -1
		if q.open == `"` {
			end = closingQuote(s, start)
		} else if k := strings.Index(s[start:], q.close); k >= 0 {
			end = start + k
		}
		if end < 0 {
			end = bareEnd(s, start)
		} else if !opens(s, start, end, end+len(q.close)) || (q.open != `"` && strings.IndexByte(s[start:end], '"') >= 0) {
			// The quote closes a string around NAME= ("...?key=", "b": 1):
			// the value is empty.
			return span{start, start}, true
		}
		return span{start, end}, true
	}
	return span{}, false
}

// opens says whether a quote before s[start] opens the value s[start:end]
// whose closing quote ends before s[after]: the value does not start with
// a space or , : } ], holds no line break, < or >, and no word or quote follows
// the closing quote. Otherwise the quote closed a string that held NAME=
// or NAME: (JSON "url": "h/?key=", "x": 1). A value in other quotes than "
// holds no " either: that " would end the string around it.
func opens(s string, start, end, after int) bool {
	if start < end && strings.IndexByte(" \t,:}]", s[start]) >= 0 {
		return false
	}
	if strings.ContainsAny(s[start:end], "\n\r<>") {
		return false
	}
	return after >= len(s) || !(isAlnum(s[after]) || s[after] == '"' || s[after] == '\'')
}

// closingQuote is the index of the first " at or after i that is not
// escaped by a backslash, or -1.
func closingQuote(s string, i int) int {
	for ; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// bareEnd is where a bare value starting at s[i] ends.
func bareEnd(s string, i int) int {
	for i < len(s) && !isStop(s[i]) {
		i++
	}
	return i
}

func isStop(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\v', '\f', '"', '\'', '`', '&', '<', '>', ',', ';', ')', ']', '}', '\\', '|', '#':
		return true
	}
	return false
}

// schemes are HTTP auth schemes whose credentials follow after a space.
var schemes = []string{"bearer", "basic", "digest", "token", "apikey", "negotiate"}

// pastScheme narrows a masked value that is an auth scheme ("Bearer",
// alone when bare, or "Bearer xyz" when quoted) to the credentials after it.
func pastScheme(s string, sp span) span {
	v := s[sp.start:sp.end]
	for _, sc := range schemes {
		if len(v) < len(sc) || !strings.EqualFold(v[:len(sc)], sc) {
			continue
		}
		if len(v) == len(sc) { // bare: the credentials are the next word
			k := sp.end
			for k < len(s) && (s[k] == ' ' || s[k] == '\t') {
				k++
			}
			if k > sp.end {
				if e := bareEnd(s, k); e > k {
					return span{k, e}
				}
			}
			return sp
		}
		if v[len(sc)] == ' ' {
			k := sp.start + len(sc)
			for k < sp.end && s[k] == ' ' {
				k++
			}
			if k < sp.end {
				return span{k, sp.end}
			}
		}
	}
	return sp
}

// userinfo masks the password of the URL authority that starts at s[i]
// (right after "://"): user:PASSWORD@host. A user alone is kept.
func userinfo(s string, i int) (span, bool) {
	end := i
	for end < len(s) && !isAuthorityStop(s[end]) {
		end++
	}
	at := strings.LastIndexByte(s[i:end], '@')
	if at < 0 {
		return span{}, false
	}
	colon := strings.IndexByte(s[i:i+at], ':')
	if colon < 0 || colon+1 == at {
		return span{}, false
	}
	return span{i + colon + 1, i + at}, true
}

func isAuthorityStop(c byte) bool {
	switch c {
	case '/', '?', '#', ' ', '\t', '\n', '\r', '"', '\'', '<', '>', '\\', '`':
		return true
	}
	return false
}

// bearer masks the token after "Bearer " anywhere. The token must look like
// one (a digit or one of -._~+/= in it, or 16 bytes or more), so that prose
// ("the bearer of") is left alone.
func bearer(s string, i int) (span, bool) {
	const word = "bearer"
	if len(s)-i < len(word)+2 || !strings.EqualFold(s[i:i+len(word)], word) || (i > 0 && isAlnum(s[i-1])) {
		return span{}, false
	}
	j := i + len(word)
	if s[j] != ' ' && s[j] != '\t' {
		return span{}, false
	}
	for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
		j++
	}
	t := j
	for t < len(s) && isToken68(s[t]) {
		t++
	}
	tok := s[j:t]
	if len(tok) < 16 && !strings.ContainsAny(tok, "0123456789-._~+/=") {
		return span{}, false
	}
	return span{j, t}, true
}

func isToken68(c byte) bool {
	return isAlnum(c) || strings.IndexByte("-._~+/=", c) >= 0
}

// skKey masks an sk- key (OpenAI, LiteLLM, Anthropic style): sk- at a word
// start followed by 20 or more key bytes, or 4 or more with a digit among
// them (sk-1234), so that words such as sk-learn are left alone.
func skKey(s string, i int) (span, bool) {
	if !strings.HasPrefix(s[i:], "sk-") || (i > 0 && isAlnum(s[i-1])) {
		return span{}, false
	}
	j := i + 3
	digit := false
	for j < len(s) && (isAlnum(s[j]) || s[j] == '-' || s[j] == '_') {
		digit = digit || isDigit(s[j])
		j++
	}
	if n := j - i - 3; n >= 20 || (n >= 4 && digit) {
		return span{i, j}, true
	}
	return span{}, false
}
