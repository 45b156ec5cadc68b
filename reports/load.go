package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// MaxReportSize bounds the report.json Read reads. A drill's holds a
// timeline of a fixed number of buckets, its steps and events: well under
// 1 MiB for a day-long drill; re-rendering 16 MiB takes seconds.
const MaxReportSize = 16 << 20

// Errors Load returns for what is not a report this build can read.
var (
	// ErrNotReport: not JSON, not an object (null, an array, a string), or
	// an object without a valid schema_version or with fields of the wrong
	// type.
	ErrNotReport = errors.New("not a report")
	// ErrNewerSchema: a report of a newer schema_version than this build
	// knows; rendering it would drop what the newer version added.
	ErrNewerSchema = errors.New("report schema is newer than this build")
)

// Document is a report.json as read: the Report this build knows and the
// bytes it came from, so that re-rendering keeps the fields it does not
// know (WithOriginal(d.Raw)).
type Document struct {
	// Path is the file read.
	Path   string
	Report *Report
	// Raw is the file's content.
	Raw []byte
}

// Load reads dir/report.json (or the file itself when dir names a file).
// See Read for what it refuses.
func Load(dir string) (*Report, error) {
	d, err := Read(dir)
	if err != nil {
		return nil, err
	}
	return d.Report, nil
}

// Read reads dir/report.json (or the file itself when dir names a file).
// It refuses, with an error naming the file (and the line and column where
// it can), what is not a report (ErrNotReport): not JSON, JSON that is not
// an object (null, an array), an object without an integer schema_version
// of at least 1, or a known field of the wrong type; and a report of a
// newer schema_version than SchemaVersion (ErrNewerSchema). Unknown fields
// are kept in Raw.
func Read(dir string) (*Document, error) {
	p := dir
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		p = filepath.Join(dir, FileJSON)
	}
	b, err := readLimited(p)
	if err != nil {
		return nil, fmt.Errorf("load report %s: %w", p, err)
	}
	r, err := decodeReport(b)
	if err != nil {
		return nil, fmt.Errorf("load report %s%w", p, err)
	}
	return &Document{Path: p, Report: r, Raw: b}, nil
}

func readLimited(p string) ([]byte, error) {
	f, err := os.Open(p)
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return nil, pe.Err // the caller names the file
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxReportSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxReportSize {
		return nil, fmt.Errorf("%w: larger than %d MiB", ErrNotReport, MaxReportSize>>20)
	}
	return b, nil
}

// decodeReport checks and decodes b; its errors start with ": " or
// ":LINE:COL: " to follow the file name.
func decodeReport(b []byte) (*Report, error) {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, jsonError(b, err)
	}
	if top == nil {
		return nil, fmt.Errorf(": %w: the file holds JSON null", ErrNotReport)
	}
	rawVer, ok := top["schema_version"]
	if !ok {
		return nil, fmt.Errorf(": %w: no schema_version (a report.json of drill has one)", ErrNotReport)
	}
	var ver int
	if err := json.Unmarshal(rawVer, &ver); err != nil || ver < 1 {
		return nil, fmt.Errorf(": %w: schema_version %s is not an integer of at least 1", ErrNotReport, rawVer)
	}
	if ver > SchemaVersion {
		return nil, fmt.Errorf(": %w: schema_version %d, this build reads up to %d: use a newer drill", ErrNewerSchema, ver, SchemaVersion)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, jsonError(b, err)
	}
	return &r, nil
}

// jsonError names where in b a decoding error is, and what it is.
func jsonError(b []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		l, c := lineCol(b, syn.Offset-1) // Offset is past the offending byte
		return fmt.Errorf(":%d:%d: %w: not JSON: %v", l, c, ErrNotReport, syn)
	case errors.As(err, &typ) && typ.Field == "":
		return fmt.Errorf(": %w: the file holds a JSON %s, not an object", ErrNotReport, typ.Value)
	case errors.As(err, &typ):
		l, c := lineCol(b, typ.Offset)
		return fmt.Errorf(":%d:%d: %w: field %s: a JSON %s where %s belongs", l, c, ErrNotReport, typ.Field, typ.Value, typ.Type)
	}
	return fmt.Errorf(": %w: %v", ErrNotReport, err)
}

// lineCol turns a byte offset into a 1-based line and column.
func lineCol(b []byte, off int64) (int, int) {
	off = min(max(off, 0), int64(len(b)))
	before := b[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return line, col
}
