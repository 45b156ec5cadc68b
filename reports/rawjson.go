package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aiuptime/aiuptime/redact"
)

// maxRawDepth bounds the nesting mergeUnknown follows in a report.json.
const maxRawDepth = 128

// mergeUnknown returns known (a rendered report.json) with the members of
// raw (the report.json it was read from) that known lacks put back where
// they were: top level and nested, inside objects of the same path and
// arrays of the same length. Values are copied as they were, except that
// every scalar under a secret-looking name is masked whole; Write masks
// the rest of the bytes. Without such members known is returned as it is.
func mergeUnknown(raw, known []byte, red *redact.Redactor) ([]byte, error) {
	raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
	merged, changed, err := mergeRaw(raw, known, red, 0)
	if err != nil || !changed {
		return known, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, merged, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// member is one member of an object, its value as raw JSON.
type member struct {
	name  string
	value json.RawMessage
}

// mergeRaw merges orig's unknown members into known; changed is false
// when orig holds none (merged is then known).
func mergeRaw(orig, known []byte, red *redact.Redactor, depth int) (merged []byte, changed bool, err error) {
	if depth > maxRawDepth {
		return nil, false, fmt.Errorf("nesting deeper than %d", maxRawDepth)
	}
	if sameText(orig, known) { // the common case, at a scan's cost
		return known, false, nil
	}
	switch o, k := firstByte(orig), firstByte(known); {
	case o == '{' && k == '{':
		return mergeObjects(orig, known, red, depth)
	case o == '[' && k == '[':
		return mergeArrays(orig, known, red, depth)
	}
	return known, false, nil
}

func mergeObjects(orig, known []byte, red *redact.Redactor, depth int) ([]byte, bool, error) {
	om, err := objectMembers(orig)
	if err != nil {
		return nil, false, err
	}
	km, err := objectMembers(known)
	if err != nil {
		return nil, false, err
	}
	// Known's names are masked: match orig's by their masked names.
	byName := map[string]member{}
	var order []string
	for _, m := range om {
		mn := red.String(m.name)
		if _, dup := byName[mn]; !dup {
			order = append(order, mn)
		}
		byName[mn] = member{name: mn, value: m.value}
	}
	changed := false
	out := make([]member, 0, len(km))
	inKnown := map[string]bool{}
	for _, m := range km {
		inKnown[m.name] = true
		if o, ok := byName[m.name]; ok {
			v, c, err := mergeRaw(o.value, m.value, red, depth+1)
			if err != nil {
				return nil, false, err
			}
			m.value, changed = v, changed || c
		}
		out = append(out, m)
	}
	for _, n := range order {
		if !inKnown[n] {
			out = append(out, member{name: n, value: maskNamed(byName[n].value, redact.IsSecretName(n), depth)})
			changed = true
		}
	}
	if !changed {
		return known, false, nil
	}
	return joinObject(out), true, nil
}

func mergeArrays(orig, known []byte, red *redact.Redactor, depth int) ([]byte, bool, error) {
	oe, err := arrayElements(orig)
	if err != nil {
		return nil, false, err
	}
	ke, err := arrayElements(known)
	if err != nil || len(oe) != len(ke) {
		return known, false, err
	}
	changed := false
	for i := range ke {
		v, c, err := mergeRaw(oe[i], ke[i], red, depth+1)
		if err != nil {
			return nil, false, err
		}
		ke[i], changed = v, changed || c
	}
	if !changed {
		return known, false, nil
	}
	return joinArray(ke), true, nil
}

// maskNamed masks every scalar of v when secret; objects pass secret on
// to their members, and members with secret-looking names are masked.
func maskNamed(v json.RawMessage, secret bool, depth int) json.RawMessage {
	if depth > maxRawDepth {
		return json.RawMessage(`"` + redact.Mask + `"`)
	}
	switch firstByte(v) {
	case '{':
		ms, err := objectMembers(v)
		if err != nil {
			return json.RawMessage(`"` + redact.Mask + `"`)
		}
		for i, m := range ms {
			ms[i].value = maskNamed(m.value, secret || redact.IsSecretName(m.name), depth+1)
		}
		return joinObject(ms)
	case '[':
		es, err := arrayElements(v)
		if err != nil {
			return json.RawMessage(`"` + redact.Mask + `"`)
		}
		for i := range es {
			es[i] = maskNamed(es[i], secret, depth+1)
		}
		return joinArray(es)
	}
	if secret && string(bytes.TrimSpace(v)) != "null" {
		return json.RawMessage(`"` + redact.Mask + `"`)
	}
	return v
}

// objectMembers are the members of a JSON object, in order.
func objectMembers(b []byte) ([]member, error) {
	var out []member
	err := eachItem(b, '{', '}', func(item []byte) error {
		end, err := skipValue(item, 0)
		if err != nil {
			return err
		}
		var name string
		if err := json.Unmarshal(item[:end], &name); err != nil {
			return fmt.Errorf("object member name: %w", err)
		}
		rest := bytes.TrimLeft(item[end:], " \t\r\n")
		if len(rest) == 0 || rest[0] != ':' {
			return errors.New("object member without a colon")
		}
		out = append(out, member{name: name, value: bytes.TrimSpace(rest[1:])})
		return nil
	})
	return out, err
}

// arrayElements are the elements of a JSON array.
func arrayElements(b []byte) ([]json.RawMessage, error) {
	var out []json.RawMessage
	err := eachItem(b, '[', ']', func(item []byte) error {
		out = append(out, bytes.TrimSpace(item))
		return nil
	})
	return out, err
}

// eachItem calls f with every comma-separated item of the object or array
// b (open and close are its brackets). b is valid JSON: Read decoded it.
func eachItem(b []byte, open, close byte, f func([]byte) error) error {
	b = bytes.TrimSpace(b)
	if len(b) < 2 || b[0] != open || b[len(b)-1] != close {
		return fmt.Errorf("not a JSON %c%c", open, close)
	}
	inner := b[1 : len(b)-1]
	if len(bytes.TrimSpace(inner)) == 0 {
		return nil
	}
	for start := 0; ; {
		end, err := skipItem(inner, start)
		if err != nil {
			return err
		}
		if err := f(inner[start:end]); err != nil {
			return err
		}
		if end >= len(inner) {
			return nil
		}
		start = end + 1 // past the comma
	}
}

// skipItem is the index of the comma that ends the item starting at
// b[i] (or len(b)): the item is a value, or a name, a colon and a value.
func skipItem(b []byte, i int) (int, error) {
	for i < len(b) {
		switch b[i] {
		case ',':
			return i, nil
		case ' ', '\t', '\r', '\n', ':':
			i++
		default:
			end, err := skipValue(b, i)
			if err != nil {
				return 0, err
			}
			i = end
		}
	}
	return i, nil
}

// skipValue is the index right after the JSON value (or name) that starts
// at b[i], after white space.
func skipValue(b []byte, i int) (int, error) {
	for i < len(b) && strings.IndexByte(" \t\r\n", b[i]) >= 0 {
		i++
	}
	if i >= len(b) {
		return 0, errors.New("missing value")
	}
	depth := 0
	for ; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			if i >= len(b) {
				return 0, errors.New("unterminated string")
			}
			if depth == 0 {
				return i + 1, nil
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1, nil
			}
			if depth < 0 {
				return i, nil
			}
		case ',', ' ', '\t', '\r', '\n', ':':
			if depth == 0 {
				return i, nil
			}
		}
	}
	return i, nil
}

// joinObject is the JSON object of members.
func joinObject(members []member) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(m.name)
		b.Write(name)
		b.WriteByte(':')
		b.Write(m.value)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// joinArray is the JSON array of elems.
func joinArray(elems []json.RawMessage) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, e := range elems {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(e)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// sameText says whether a and b are the same JSON text but for white
// space outside strings.
func sameText(a, b []byte) bool {
	i, j := 0, 0
	inString := false
	for {
		if !inString {
			for i < len(a) && isJSONSpace(a[i]) {
				i++
			}
			for j < len(b) && isJSONSpace(b[j]) {
				j++
			}
		}
		if i == len(a) || j == len(b) {
			return i == len(a) && j == len(b)
		}
		if a[i] != b[j] {
			return false
		}
		switch {
		case inString && a[i] == '\\':
			if i+1 >= len(a) || j+1 >= len(b) || a[i+1] != b[j+1] {
				return false
			}
			i++
			j++
		case a[i] == '"':
			inString = !inString
		}
		i++
		j++
	}
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// firstByte is the first byte of b that is not white space (0 for none).
func firstByte(b []byte) byte {
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) > 0 {
		return t[0]
	}
	return 0
}
