package redact

// isStrong says whether a name part marks a secret on its own, as the last
// part of a name (DB_PASSWORD, access_token, X-Amz-Signature, Cookie).
func isStrong(part string) bool {
	switch part {
	case "token", "secret", "password", "passwd", "pwd", "passphrase", "credential", "credentials", "creds",
		"apikey", "accesskey", "secretkey", "privatekey", "authtoken", "accesstoken", "refreshtoken",
		"signature", "authorization", "bearer", "cookie", "jwt":
		return true
	}
	return false
}

// isWeak says whether a part marks a secret as the last part of a longer
// name (api_key, X-Auth), or alone in an assignment (?key=, sig=, auth=),
// but not alone before a colon, where "key:" is mostly prose ("unknown
// key: foo").
func isWeak(part string) bool { return part == "key" || part == "auth" || part == "sig" }

// countsBeforeToken are parts that, right before "token", make it a count
// or a time rather than a credential (max_token, first_token).
func countsBeforeToken(part string) bool {
	switch part {
	case "first", "last", "next", "prev", "max", "min", "num", "total", "output", "input", "prompt",
		"completion", "per", "eos", "bos", "special":
		return true
	}
	return false
}

// suffixes are endings of a single-word name that carry a strong word
// (githubtoken, xapikey, dbpassword).
var suffixes = []string{"token", "secret", "password", "passwd", "apikey", "accesskey", "secretkey", "privatekey", "credentials", "signature"}

// IsSecretName reports whether a variable, parameter, header or field
// named name holds a secret: its last part (split at _ - . and camelCase)
// is token, secret, password, passwd, pwd, passphrase, credential(s),
// signature, authorization, bearer, cookie, jwt, or a word ending in one
// of them (githubtoken, xapikey), or key, auth or sig after another part
// (api_key, X-Api-Key, AWS_SECRET_ACCESS_KEY). Names ending in a part that
// describes the secret rather than holding it are not secret: api_key_env,
// token_count, password_file, key_id, max_tokens, first_token.
func IsSecretName(name string) bool { return secretName(name, true) }

// secretName is IsSecretName; alone says whether a single weak word counts
// (in assignments such as ?key=, not before a colon). It looks at the last
// two parts of name only and allocates nothing: it runs on every name=
// and name: in every output.
func secretName(name string, alone bool) bool {
	if len(name) == 0 || len(name) > maxName {
		return false
	}
	last, prev, n := lastParts(name)
	if n == 0 {
		return false
	}
	var lb, pb [maxName]byte
	l := lower(lb[:0], name[last.start:last.end])
	switch {
	case isWeak(string(l)):
		return alone || n > 1
	case string(l) == "token" && n > 1 && countsBeforeToken(string(lower(pb[:0], name[prev.start:prev.end]))):
		return false
	case isStrong(string(l)):
		return true
	}
	for _, suf := range suffixes {
		if len(l) > len(suf) && string(l[len(l)-len(suf):]) == suf {
			return true
		}
	}
	return false
}

// maxName bounds the names looked at (and how far the scanner looks back).
const maxName = 64

// lastParts finds the last two parts of name, split at non-alphanumerics
// and at camelCase boundaries (apiKey, APIKey, XApiKey -> x, api, key), and
// how many parts there are.
func lastParts(name string) (last, prev span, n int) {
	start := -1
	for i := 0; i <= len(name); i++ {
		end := i == len(name) || !isAlnum(name[i])
		split := !end && start >= 0 && i > start && isUpper(name[i]) &&
			(isLower(name[i-1]) || isDigit(name[i-1]) || (isUpper(name[i-1]) && i+1 < len(name) && isLower(name[i+1])))
		if (end || split) && start >= 0 {
			prev, last = last, span{start, i}
			n++
			start = -1
		}
		if !end && start < 0 {
			start = i
		}
	}
	return last, prev, n
}

// lower appends s in lower case to b.
func lower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUpper(c) {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlnum(c byte) bool { return isUpper(c) || isLower(c) || isDigit(c) }
