package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"reflect"
	"strings"
)

// Output file names written by Write.
const (
	FileJUnit    = "junit.xml"
	FileJSON     = "report.json"
	FileMarkdown = "report.md"
	FileHTML     = "report.html"
	FileProm     = "drill.prom"
)

// Files lists every file Write produces, in the order it writes them.
var Files = []string{FileJSON, FileJUnit, FileMarkdown, FileHTML, FileProm}

// Redacted replaces every secret in every output.
const Redacted = "[REDACTED]"

// Option configures Write.
type Option func(*options) error

type options struct {
	secrets []string
}

// WithSecrets names values (API keys, master keys) that must never appear in
// any output: every occurrence is replaced with "[REDACTED]". Empty values
// are ignored.
func WithSecrets(keys ...string) Option {
	return func(o *options) error {
		for _, k := range keys {
			if k != "" {
				o.secrets = append(o.secrets, k)
			}
		}
		return nil
	}
}

// Write renders r into dir as report.json, junit.xml, report.md,
// report.html and drill.prom, creating dir if needed. r is not modified.
func Write(dir string, r *Report, opts ...Option) error {
	if r == nil {
		return errors.New("write reports: nil report")
	}
	var o options
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return fmt.Errorf("write reports: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write reports: %w", err)
	}
	rr, err := redactedCopy(r, o.secrets)
	if err != nil {
		return fmt.Errorf("write reports: %w", err)
	}
	renderers := map[string]func(*Report) ([]byte, error){
		FileJSON:     MarshalJSON,
		FileJUnit:    JUnit,
		FileMarkdown: Markdown,
		FileHTML:     HTML,
		FileProm:     Prom,
	}
	for _, name := range Files {
		b, err := renderers[name](rr)
		if err != nil {
			return fmt.Errorf("render %s: %w", name, err)
		}
		b = scrub(b, o.secrets)
		if err := writeFileAtomic(filepath.Join(dir, name), b); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

// MarshalJSON renders r as indented report.json.
func MarshalJSON(r *Report) ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Load reads dir/report.json (or the file itself when dir names a file).
func Load(dir string) (*Report, error) {
	p := dir
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		p = filepath.Join(dir, FileJSON)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("load report: %w", err)
	}
	var r Report
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("load report %s: %w", p, err)
	}
	return &r, nil
}

func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// redactedCopy deep-copies r (through JSON) and replaces secrets in every
// string it holds, map keys included.
func redactedCopy(r *Report, secrets []string) (*Report, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var c Report
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	if len(secrets) > 0 {
		redactValue(reflect.ValueOf(&c).Elem(), secrets)
	}
	return &c, nil
}

func redactString(s string, secrets []string) string {
	for _, k := range secrets {
		s = strings.ReplaceAll(s, k, Redacted)
	}
	return s
}

func redactValue(v reflect.Value, secrets []string) {
	switch v.Kind() {
	case reflect.String:
		if v.CanSet() {
			v.SetString(redactString(v.String(), secrets))
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			redactValue(v.Elem(), secrets)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				redactValue(v.Field(i), secrets)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			redactValue(v.Index(i), secrets)
		}
	case reflect.Map:
		if v.IsNil() {
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), v.Len())
		it := v.MapRange()
		for it.Next() {
			k := reflect.New(v.Type().Key()).Elem()
			k.Set(it.Key())
			redactValue(k, secrets)
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(it.Value())
			redactValue(e, secrets)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	}
}

// scrub is the last line of defence: it replaces secrets, raw and in the
// escaped forms JSON, XML and HTML give them, in rendered bytes.
func scrub(b []byte, secrets []string) []byte {
	for _, k := range secrets {
		forms := []string{k, html.EscapeString(k)}
		if j, err := json.Marshal(k); err == nil {
			forms = append(forms, string(j[1:len(j)-1]))
		}
		for _, f := range forms {
			b = bytes.ReplaceAll(b, []byte(f), []byte(Redacted))
		}
	}
	return b
}
