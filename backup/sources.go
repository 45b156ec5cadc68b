package backup

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	_ "modernc.org/sqlite" // the "sqlite" driver, for online backups

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
		return info, copyFile(f.Path, filepath.Join(dir, filepath.Base(f.Path)))
	}
	skip := map[string]bool{}
	for _, s := range f.Skip {
		skip[s] = true
	}
	return info, copyTree(ctx, f.Path, dir, skip)
}

func copyTree(ctx context.Context, src, dst string, skip map[string]bool) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if skip[d.Name()] && p != src {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(src, p)
		t := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(t, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil // sockets, links: not data
		}
		return copyFile(p, t)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, st.Mode().Perm()|0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
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

// Command runs Cmd in a container (docker exec) and stores its stdout as
// File: `pg_dump -U litellm litellm` in LiteLLM's PostgreSQL container is
// the model case. A non-zero exit status fails the backup with stderr.
type Command struct {
	ID        string
	Docker    client.APIClient
	Container string
	Cmd       []string
	File      string
}

// Name implements Source.
func (c Command) Name() string { return c.ID }

// Collect implements Source.
func (c Command) Collect(ctx context.Context, dir string) (SourceInfo, error) {
	info := SourceInfo{Kind: "command", From: c.Container + ": " + strings.Join(c.Cmd, " ")}
	ex, err := c.Docker.ContainerExecCreate(ctx, c.Container, container.ExecOptions{Cmd: c.Cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return info, fmt.Errorf("exec in %s: %w", c.Container, err)
	}
	att, err := c.Docker.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return info, fmt.Errorf("exec attach in %s: %w", c.Container, err)
	}
	defer att.Close()
	name := c.File
	if name == "" {
		name = "stdout"
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return info, err
	}
	var stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(f, &stderr, att.Reader); err != nil {
		f.Close()
		return info, fmt.Errorf("exec output from %s: %w", c.Container, err)
	}
	if err := f.Close(); err != nil {
		return info, err
	}
	ins, err := c.Docker.ContainerExecInspect(ctx, ex.ID)
	if err != nil {
		return info, fmt.Errorf("exec inspect in %s: %w", c.Container, err)
	}
	if ins.ExitCode != 0 {
		return info, fmt.Errorf("%s in %s exited %d: %s", strings.Join(c.Cmd, " "), c.Container, ins.ExitCode, strings.TrimSpace(stderr.String()))
	}
	return info, nil
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
	for i := range svcs {
		svcs[i].PID = 0
	}
	b, err := json.MarshalIndent(map[string]any{"versions": vs, "services": svcs}, "", "  ")
	if err != nil {
		return info, err
	}
	return info, writeFileSync(filepath.Join(dir, "state.json"), b)
}
