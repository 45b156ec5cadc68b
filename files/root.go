package files

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Resolvers: how a Root resolves relative paths.
const (
	// ResolverOpenat2 is openat2(2) with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|
	// RESOLVE_NO_MAGICLINKS (Linux >= 5.6): the kernel refuses any link and
	// any escape in one call.
	ResolverOpenat2 = "openat2"
	// ResolverWalk opens one component at a time with
	// openat(O_NOFOLLOW|O_DIRECTORY) from the previous one's descriptor,
	// on kernels without openat2 (or where seccomp refuses it).
	ResolverWalk = "openat-walk"
)

// Errors callers branch on (with errors.Is). Both come wrapped in an
// *fs.PathError whose Path is the offending path relative to the root.
var (
	// ErrSymlink is a symbolic link met on a path or during a walk
	// beneath a root: it is never followed, and what needed it is refused.
	ErrSymlink = errors.New("symbolic link refused: paths beneath a volume root are never resolved through links")
	// ErrOutside is a path that is absolute, leaves the root with "..",
	// holds a NUL byte, or names the root where an entry in it is needed.
	ErrOutside = errors.New("path must be relative and stay beneath the root")
)

const resolveBeneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

var probe struct {
	once    sync.Once
	openat2 bool
	why     string
	logged  atomic.Bool
}

// detect finds out once whether openat2 with the beneath flags works here.
func detect() {
	probe.once.Do(func() {
		fd, err := unix.Openat2(unix.AT_FDCWD, ".", &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: resolveBeneath})
		if err != nil {
			probe.why = fmt.Sprintf("openat2 unavailable (%v): component-by-component openat(O_NOFOLLOW)", err)
			return
		}
		unix.Close(fd)
		probe.openat2 = true
		probe.why = "openat2 with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS"
	})
}

// Resolver says which resolver this kernel gets (ResolverOpenat2 or
// ResolverWalk) and why.
func Resolver() (name, why string) {
	detect()
	if probe.openat2 {
		return ResolverOpenat2, probe.why
	}
	return ResolverWalk, probe.why
}

// Root is an open directory that paths are resolved beneath: never through
// a symbolic link (ErrSymlink), never outside it (ErrOutside). Every
// operation starts from its descriptor, so renaming or replacing the path
// it was opened by changes nothing. The directory itself is opened by its
// path as given: it is the trusted anchor (a volume's host path).
type Root struct {
	fd      int
	name    string
	openat2 bool
}

// Option configures OpenRoot.
type Option func(*rootOptions)

type rootOptions struct {
	log  *slog.Logger
	walk bool
}

// WithLogger logs, once per process, which resolver is used.
func WithLogger(l *slog.Logger) Option { return func(o *rootOptions) { o.log = l } }

// OpenRoot opens dir as a root.
func OpenRoot(dir string, opts ...Option) (*Root, error) {
	var o rootOptions
	for _, f := range opts {
		f(&o)
	}
	detect()
	if o.log != nil && o.log.Enabled(context.Background(), slog.LevelInfo) && probe.logged.CompareAndSwap(false, true) {
		name, why := Resolver()
		o.log.Info("paths beneath volume roots", "resolver", name, "how", why)
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open root", Path: dir, Err: err}
	}
	return &Root{fd: fd, name: filepath.Clean(dir), openat2: probe.openat2 && !o.walk}, nil
}

// Name is the root's path as opened.
func (r *Root) Name() string { return r.name }

// Close closes the root's descriptor.
func (r *Root) Close() error { return unix.Close(r.fd) }

// Clean checks that rel is a local path (relative, no ".." leaving it, no
// NUL byte) and returns it cleaned ("." for the root itself).
func Clean(rel string) (string, error) {
	if rel == "" || rel == "." {
		return ".", nil
	}
	if strings.IndexByte(rel, 0) >= 0 || !filepath.IsLocal(rel) {
		return "", ErrOutside
	}
	return filepath.Clean(rel), nil
}

// open opens rel beneath the root; O_NOFOLLOW and O_CLOEXEC are added.
func (r *Root) open(op, rel string, flags int, mode uint32) (int, string, error) {
	clean, err := Clean(rel)
	if err != nil {
		return -1, rel, &fs.PathError{Op: op, Path: rel, Err: err}
	}
	flags |= unix.O_NOFOLLOW | unix.O_CLOEXEC
	var fd int
	if r.openat2 {
		fd, err = r.resolve2(clean, flags, mode)
	} else {
		fd, err = r.resolveWalk(clean, flags, mode)
	}
	if err != nil {
		return -1, clean, r.classify(op, clean, err)
	}
	return fd, clean, nil
}

func (r *Root) resolve2(clean string, flags int, mode uint32) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags), Resolve: resolveBeneath}
	if flags&(unix.O_CREAT|unix.O_TMPFILE) != 0 {
		how.Mode = uint64(mode)
	}
	for range 16 { // EAGAIN: a concurrent rename or mount; retry
		fd, err := unix.Openat2(r.fd, clean, &how)
		if err != unix.EAGAIN && err != unix.EINTR {
			return fd, err
		}
	}
	return -1, unix.EAGAIN
}

func (r *Root) resolveWalk(clean string, flags int, mode uint32) (int, error) {
	comps := strings.Split(clean, "/")
	cur, owned := r.fd, false
	for _, c := range comps[:len(comps)-1] {
		next, err := unix.Openat(cur, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if owned {
			unix.Close(cur)
		}
		if err != nil {
			return -1, err
		}
		cur, owned = next, true
	}
	fd, err := unix.Openat(cur, comps[len(comps)-1], flags, mode)
	if owned {
		unix.Close(cur)
	}
	return fd, err
}

// classify turns a resolution error into ErrSymlink (naming the first link
// on the path), ErrOutside, or the errno, each in an *fs.PathError.
func (r *Root) classify(op, clean string, err error) error {
	switch {
	case errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR):
		if link := r.firstLink(clean); link != "" {
			return &fs.PathError{Op: op, Path: link, Err: ErrSymlink}
		}
	case errors.Is(err, unix.EXDEV) && r.openat2:
		return &fs.PathError{Op: op, Path: clean, Err: ErrOutside}
	}
	return &fs.PathError{Op: op, Path: clean, Err: err}
}

// firstLink names the shortest prefix of clean that is a symbolic link
// ("" if none): a diagnosis after a refusal, never used to act.
func (r *Root) firstLink(clean string) string {
	var st unix.Stat_t
	comps := strings.Split(clean, "/")
	for i := range comps {
		p := strings.Join(comps[:i+1], "/")
		if err := unix.Fstatat(r.fd, p, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return ""
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return p
		}
	}
	return ""
}

// OpenFile opens rel beneath the root like os.OpenFile; a link anywhere on
// the path (the last component too) is ErrSymlink.
func (r *Root) OpenFile(rel string, flag int, perm fs.FileMode) (*os.File, error) {
	fd, clean, err := r.open("open", rel, flag, uint32(perm.Perm()))
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), filepath.Join(r.name, clean)), nil
}

// Open opens rel for reading (non-blocking, so a FIFO cannot hang it).
func (r *Root) Open(rel string) (*os.File, error) {
	return r.OpenFile(rel, os.O_RDONLY|unix.O_NONBLOCK, 0)
}

// Lstat describes rel without following it: a link as the last component
// is described as a link; a link before it is ErrSymlink.
func (r *Root) Lstat(rel string) (fs.FileInfo, error) {
	fd, clean, err := r.open("lstat", rel, unix.O_PATH, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: clean, Err: err}
	}
	return newInfo(filepath.Base(clean), &st), nil
}

// parent opens rel's directory and returns it with rel's last component;
// rel must name an entry, not the root.
func (r *Root) parent(op, rel string) (int, string, string, error) {
	clean, err := Clean(rel)
	if err == nil && clean == "." {
		err = ErrOutside
	}
	if err != nil {
		return -1, "", rel, &fs.PathError{Op: op, Path: rel, Err: err}
	}
	fd, _, err := r.open(op, filepath.Dir(clean), unix.O_PATH|unix.O_DIRECTORY, 0)
	return fd, filepath.Base(clean), clean, err
}

// Mkdir makes the directory rel.
func (r *Root) Mkdir(rel string, perm fs.FileMode) error {
	pfd, base, clean, err := r.parent("mkdir", rel)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if err := unix.Mkdirat(pfd, base, uint32(perm.Perm())); err != nil {
		return &fs.PathError{Op: "mkdir", Path: clean, Err: err}
	}
	return nil
}

// MkdirAll makes rel and its missing parents, one component at a time; an
// existing component must be a directory, not a link.
func (r *Root) MkdirAll(rel string, perm fs.FileMode) error {
	clean, err := Clean(rel)
	if err != nil {
		return &fs.PathError{Op: "mkdir", Path: rel, Err: err}
	}
	if clean == "." {
		return nil
	}
	cur, owned := r.fd, false
	defer func() {
		if owned {
			unix.Close(cur)
		}
	}()
	comps := strings.Split(clean, "/")
	for i, c := range comps {
		if err := unix.Mkdirat(cur, c, uint32(perm.Perm())); err != nil && err != unix.EEXIST {
			return &fs.PathError{Op: "mkdir", Path: strings.Join(comps[:i+1], "/"), Err: err}
		}
		next, err := unix.Openat(cur, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return r.classify("mkdir", strings.Join(comps[:i+1], "/"), err)
		}
		if owned {
			unix.Close(cur)
		}
		cur, owned = next, true
	}
	return nil
}

// Remove removes the file, link or empty directory rel (a link itself,
// never what it points to).
func (r *Root) Remove(rel string) error {
	pfd, base, clean, err := r.parent("remove", rel)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	err = unix.Unlinkat(pfd, base, 0)
	if err == unix.EISDIR {
		err = unix.Unlinkat(pfd, base, unix.AT_REMOVEDIR)
	}
	if err != nil {
		return &fs.PathError{Op: "remove", Path: clean, Err: err}
	}
	return nil
}

// RemoveAll removes rel and everything under it, descending only through
// directories opened with O_NOFOLLOW (links are unlinked, not followed).
// A missing rel is not an error.
func (r *Root) RemoveAll(rel string) error {
	pfd, base, clean, err := r.parent("remove", rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	return removeAt(pfd, base, clean)
}

// Symlink creates the link rel pointing to target (target is stored as
// given, not resolved).
func (r *Root) Symlink(target, rel string) error {
	pfd, base, clean, err := r.parent("symlink", rel)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if err := unix.Symlinkat(target, pfd, base); err != nil {
		return &fs.PathError{Op: "symlink", Path: clean, Err: err}
	}
	return nil
}

// Readlink returns the target of the link rel.
func (r *Root) Readlink(rel string) (string, error) {
	pfd, base, clean, err := r.parent("readlink", rel)
	if err != nil {
		return "", err
	}
	defer unix.Close(pfd)
	return readlinkAt(pfd, base, clean)
}

// Sub opens the directory rel as a root of its own.
func (r *Root) Sub(rel string) (*Root, error) {
	fd, clean, err := r.open("open", rel, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	return &Root{fd: fd, name: filepath.Join(r.name, clean), openat2: r.openat2}, nil
}

// Statfs describes the root's filesystem (fstatfs on its descriptor).
func (r *Root) Statfs() (unix.Statfs_t, error) {
	var s unix.Statfs_t
	err := unix.Fstatfs(r.fd, &s)
	return s, err
}

// Stat describes the root directory itself.
func (r *Root) Stat() (fs.FileInfo, error) {
	var st unix.Stat_t
	if err := unix.Fstat(r.fd, &st); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: r.name, Err: err}
	}
	return newInfo(filepath.Base(r.name), &st), nil
}

// WriteFrom creates or truncates the file rel (mode perm) beneath the
// root, fills it from src and fsyncs it. A link at rel is ErrSymlink.
func (r *Root) WriteFrom(rel string, src io.Reader, perm fs.FileMode) error {
	out, err := r.OpenFile(rel, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, src); err != nil {
		out.Close()
		return fmt.Errorf("write %s: %w", out.Name(), err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// readlinkAt reads the link name in dirfd.
func readlinkAt(dirfd int, name, rel string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", &fs.PathError{Op: "readlink", Path: rel, Err: err}
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}
