package backup

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	_ "modernc.org/sqlite" // the "sqlite" driver, for online backups

	"github.com/aiuptime/aiuptime/files"
	"github.com/aiuptime/aiuptime/stack"
)

// Files copies a host file or directory tree (a volume's host path, a
// config file). Skip lists base names left out (e.g. a live database that
// another source snapshots consistently).
type Files struct {
	ID   string
	Path string
	Skip []string
}

// Name implements Source.
func (f Files) Name() string { return f.ID }

// Collect implements Source.
func (f Files) Collect(ctx context.Context, dir string) (SourceInfo, error) {
	info := SourceInfo{Kind: "files", From: f.Path}
	st, err := os.Stat(f.Path)
	if err != nil {
		return info, fmt.Errorf("files %s: %w", f.Path, err)
	}
	if !st.IsDir() {
		return info, files.CopyFile(f.Path, filepath.Join(dir, filepath.Base(f.Path)), 0)
	}
	skip := map[string]bool{}
	for _, s := range f.Skip {
		skip[s] = true
	}
	return info, files.CopyTree(ctx, f.Path, dir, files.TreeOptions{Skip: skip, KeepModes: true})
}

// SQLite takes a consistent copy of a live SQLite database with VACUUM INTO
// (safe while the owner writes: it reads one snapshot in a read transaction;
// WAL readers and writers across processes on one kernel coordinate through
// the -shm file). With SpendTable set it records the table's row count and
// newest end_time in the source's meta (rows, last_write) for RPO.
type SQLite struct {
	ID         string
	Path       string
	SpendTable string
}

// Name implements Source.
func (s SQLite) Name() string { return s.ID }

// Collect implements Source.
func (s SQLite) Collect(ctx context.Context, dir string) (SourceInfo, error) {
	info := SourceInfo{Kind: "sqlite", From: s.Path, Meta: map[string]string{}}
	if _, err := os.Stat(s.Path); err != nil {
		return info, fmt.Errorf("sqlite %s: %w", s.Path, err)
	}
	db, err := sql.Open("sqlite", "file:"+s.Path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return info, fmt.Errorf("open %s: %w", s.Path, err)
	}
	defer db.Close()
	dst := filepath.Join(dir, filepath.Base(s.Path))
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		return info, fmt.Errorf("vacuum into %s: %w", dst, err)
	}
	if s.SpendTable != "" {
		rows, last, err := SpendStats(ctx, dst, s.SpendTable)
		if err != nil {
			return info, err
		}
		info.Meta["rows"] = strconv.FormatInt(rows, 10)
		info.Meta["last_write"] = last
	}
	return info, nil
}

// SpendStats counts a spend-log table's rows and returns its newest
// end_time (text, as stored) in the SQLite file at path.
func SpendStats(ctx context.Context, path, table string) (int64, string, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return 0, "", fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	var n int64
	var last sql.NullString
	q := fmt.Sprintf(`SELECT count(*), max(end_time) FROM "%s"`, strings.ReplaceAll(table, `"`, ""))
	if err := db.QueryRowContext(ctx, q).Scan(&n, &last); err != nil {
		return 0, "", fmt.Errorf("count %s in %s: %w", table, path, err)
	}
	return n, last.String, nil
}

// Command runs Cmd inside a service of the stack (its exec capability) and
// stores its stdout as File: `pg_dump -U litellm litellm` in LiteLLM's
// PostgreSQL container is the model case. A non-zero exit status fails the
// backup with stderr.
type Command struct {
	ID      string
	Stack   stack.Execer
	Service string
	Cmd     []string
	File    string
}

// Name implements Source.
func (c Command) Name() string { return c.ID }

// Collect implements Source.
func (c Command) Collect(ctx context.Context, dir string) (SourceInfo, error) {
	info := SourceInfo{Kind: "command", From: c.Service + ": " + strings.Join(c.Cmd, " ")}
	if c.Stack == nil {
		return info, fmt.Errorf("command %s: the stack cannot exec: %w", c.ID, stack.ErrUnsupported)
	}
	out, err := c.Stack.Exec(ctx, c.Service, c.Cmd)
	if err != nil {
		return info, fmt.Errorf("command %s: %w", c.ID, err)
	}
	name := c.File
	if name == "" {
		name = "stdout"
	}
	return info, files.WriteSync(filepath.Join(dir, name), out)
}

// State records the system state: each service's image ID and version.
type State struct {
	ID    string
	Stack stack.Stack
}

// Name implements Source.
func (s State) Name() string { return s.ID }

// Collect implements Source.
func (s State) Collect(ctx context.Context, dir string) (SourceInfo, error) {
	info := SourceInfo{Kind: "state", From: s.Stack.Kind() + " stack"}
	vs, err := stack.Versions(ctx, s.Stack)
	if err != nil {
		return info, err
	}
	svcs, err := s.Stack.Services(ctx)
	if err != nil {
		return info, err
	}
	b, err := json.MarshalIndent(map[string]any{"versions": vs, "services": svcs}, "", "  ")
	if err != nil {
		return info, err
	}
	return info, files.WriteSync(filepath.Join(dir, "state.json"), b)
}
