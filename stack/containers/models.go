package containers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// modelCacheDir holds generated model dirs, one per (name, version, size),
// so replicas and later runs serve byte-identical weights (the golden
// prompt gives the same answer on every replica, and a rollback to a
// version gives back its answers).
func modelCacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "aiuptime", "models")
	}
	return filepath.Join(os.TempDir(), "aiuptime", "models")
}

// generatedModel returns a cached model dir, generating it with the model
// server binary's gen-model when missing.
func generatedModel(ctx context.Context, genBin, name, version string, size int64) (string, error) {
	base := modelCacheDir()
	dir := filepath.Join(base, fmt.Sprintf("%s-%s-%d", safeName(name), safeName(version), size))
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", fmt.Errorf("model cache: %w", err)
	}
	tmp, err := os.MkdirTemp(base, ".gen-")
	if err != nil {
		return "", fmt.Errorf("model cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "model")
	cmd := exec.CommandContext(ctx, genBin, "gen-model", "--dir", out, "--name", name,
		"--version", version, "--size", fmt.Sprint(size))
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("gen-model %s %s: %w: %s", name, version, err, tail(string(b), 10))
	}
	if err := os.Rename(out, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "manifest.json")); serr == nil {
			return dir, nil // another process won the race
		}
		return "", fmt.Errorf("model cache: %w", err)
	}
	return dir, nil
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// fillDir empties dst and copies the tree src into it.
func fillDir(src, dst string) error {
	entries, err := os.ReadDir(dst)
	if err != nil {
		return fmt.Errorf("fill %s: %w", dst, err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dst, e.Name())); err != nil {
			return fmt.Errorf("fill %s: %w", dst, err)
		}
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil || rel == "." {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return errors.New("fill: not a regular file: " + p)
		}
		return copyFile(p, target)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}
