package files

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// Entry is one file, directory or link met by Root.Walk. Act on it through
// its methods: they start from the descriptor of the directory that holds
// it, never from a path string, so nothing swapped in since can redirect
// them. An Entry is valid only during the WalkFunc call.
type Entry struct {
	rel  string
	name string
	typ  fs.FileMode
	dir  int
	info fs.FileInfo
}

// WalkFunc is called for every entry of a walk, a directory before its
// contents. fs.SkipDir skips a directory (or the rest of the one holding a
// file); fs.SkipAll ends the walk; another error ends it with that error.
type WalkFunc func(e *Entry) error

// Path is the entry's path relative to the root ("." for the root).
func (e *Entry) Path() string { return e.rel }

// Name is the entry's base name.
func (e *Entry) Name() string { return filepath.Base(e.rel) }

// Type is the entry's type bits (fs.ModeDir, fs.ModeSymlink, 0 for a file).
func (e *Entry) Type() fs.FileMode { return e.typ }

// IsDir reports whether the entry is a directory.
func (e *Entry) IsDir() bool { return e.typ.IsDir() }

// IsSymlink reports whether the entry is a symbolic link.
func (e *Entry) IsSymlink() bool { return e.typ&fs.ModeSymlink != 0 }

// Info describes the entry (fstatat on its directory, not following it).
func (e *Entry) Info() (fs.FileInfo, error) {
	if e.info != nil {
		return e.info, nil
	}
	var st unix.Stat_t
	if err := unix.Fstatat(e.dir, e.name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: e.rel, Err: err}
	}
	e.info = newInfo(e.Name(), &st)
	return e.info, nil
}

// OpenFile opens the entry (O_NOFOLLOW: a link swapped in is ErrSymlink).
func (e *Entry) OpenFile(flag int, perm fs.FileMode) (*os.File, error) {
	fd, err := unix.Openat(e.dir, e.name, flag|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err == unix.ELOOP {
		return nil, &fs.PathError{Op: "open", Path: e.rel, Err: ErrSymlink}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: e.rel, Err: err}
	}
	return os.NewFile(uintptr(fd), e.rel), nil
}

// Readlink returns the target of the link the entry is.
func (e *Entry) Readlink() (string, error) { return readlinkAt(e.dir, e.name, e.rel) }

// LinkInto hard-links the entry as rel beneath dst (linkat without
// following links).
func (e *Entry) LinkInto(dst *Root, rel string) error {
	pfd, base, clean, err := dst.parent("link", rel)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if err := unix.Linkat(e.dir, e.name, pfd, base, 0); err != nil {
		return &fs.PathError{Op: "link", Path: clean, Err: err}
	}
	return nil
}

// Walk calls fn for rel (a directory or a file beneath the root) and, for a
// directory, everything under it in lexical order, descending only by
// openat(O_NOFOLLOW|O_DIRECTORY) from the parent's descriptor. Links are
// passed to fn as links and never followed; rel itself must not be a link
// (ErrSymlink). A directory replaced by a link or another directory
// between fn and the descent is ErrSymlink or an error naming it.
func (r *Root) Walk(rel string, fn WalkFunc) error {
	var pfd int
	var name, clean string
	var err error
	if c, cerr := Clean(rel); cerr == nil && c == "." {
		pfd, name, clean = r.fd, ".", "."
	} else {
		if pfd, name, clean, err = r.parent("walk", rel); err != nil {
			return err
		}
		defer unix.Close(pfd)
	}
	e := &Entry{rel: clean, name: name, dir: pfd}
	info, err := e.Info()
	if err != nil {
		return err
	}
	if info.Mode()&fs.ModeSymlink != 0 {
		return &fs.PathError{Op: "walk", Path: clean, Err: ErrSymlink}
	}
	e.typ = info.Mode().Type()
	err = r.visit(e, fn)
	if err == fs.SkipDir || err == fs.SkipAll {
		return nil
	}
	return err
}

// visit calls fn for e and walks a directory's contents.
func (r *Root) visit(e *Entry, fn WalkFunc) error {
	if !e.IsDir() {
		return fn(e)
	}
	want, err := e.Info() // before fn: what fn decided on is what is descended
	if err != nil {
		return err
	}
	if err := fn(e); err != nil {
		return err
	}
	fd, err := unix.Openat(e.dir, e.name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == unix.ELOOP || err == unix.ENOTDIR {
		return &fs.PathError{Op: "walk", Path: e.rel, Err: ErrSymlink}
	}
	if err != nil {
		return &fs.PathError{Op: "walk", Path: e.rel, Err: err}
	}
	defer unix.Close(fd)
	var got unix.Stat_t
	if err := unix.Fstat(fd, &got); err != nil {
		return &fs.PathError{Op: "walk", Path: e.rel, Err: err}
	}
	if w := want.Sys().(*unix.Stat_t); w.Ino != got.Ino || w.Dev != got.Dev {
		return &fs.PathError{Op: "walk", Path: e.rel, Err: errors.New("directory replaced during the walk")}
	}
	ents, err := readDir(fd, e.rel)
	if err != nil {
		return err
	}
	for _, d := range ents {
		c := &Entry{rel: join(e.rel, d.name), name: d.name, typ: d.typ, dir: fd}
		if d.unknown {
			if _, err := c.Info(); err != nil {
				return err
			}
			c.typ = c.info.Mode().Type()
		}
		err := r.visit(c, fn)
		if err == fs.SkipDir {
			if c.IsDir() {
				continue
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func join(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

type dirent struct {
	name    string
	typ     fs.FileMode
	unknown bool
}

// direntTypes maps d_type to fs.FileMode type bits.
var direntTypes = map[byte]fs.FileMode{
	unix.DT_DIR: fs.ModeDir, unix.DT_REG: 0, unix.DT_LNK: fs.ModeSymlink,
	unix.DT_FIFO: fs.ModeNamedPipe, unix.DT_SOCK: fs.ModeSocket,
	unix.DT_CHR: fs.ModeDevice | fs.ModeCharDevice, unix.DT_BLK: fs.ModeDevice,
}

// readDir lists the directory open as fd (getdents64; "." and ".." left
// out), sorted by name.
func readDir(fd int, rel string) ([]dirent, error) {
	var out []dirent
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "readdir", Path: rel, Err: err}
		}
		if n <= 0 {
			break
		}
		// struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name.
		for b := buf[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				return nil, &fs.PathError{Op: "readdir", Path: rel, Err: unix.EBADMSG}
			}
			name := b[19:reclen]
			if i := slices.Index(name, 0); i >= 0 {
				name = name[:i]
			}
			if s := string(name); s != "." && s != ".." {
				typ, known := direntTypes[b[18]]
				out = append(out, dirent{name: s, typ: typ, unknown: !known})
			}
			b = b[reclen:]
		}
	}
	slices.SortFunc(out, func(a, b dirent) int {
		if a.name < b.name {
			return -1
		}
		if a.name > b.name {
			return 1
		}
		return 0
	})
	return out, nil
}

// removeAt removes name in dirfd and, for a directory, everything in it.
func removeAt(dirfd int, name, rel string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR {
		return &fs.PathError{Op: "remove", Path: rel, Err: err}
	}
	if err := emptyAt(dirfd, name, rel, nil); err != nil {
		return err
	}
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && err != unix.ENOENT {
		return &fs.PathError{Op: "remove", Path: rel, Err: err}
	}
	return nil
}

// emptyAt removes everything in the directory name of dirfd but keep.
func emptyAt(dirfd int, name, rel string, keep map[string]bool) error {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == unix.ELOOP || err == unix.ENOTDIR {
		return &fs.PathError{Op: "remove", Path: rel, Err: ErrSymlink}
	}
	if err != nil {
		return &fs.PathError{Op: "remove", Path: rel, Err: err}
	}
	defer unix.Close(fd)
	ents, err := readDir(fd, rel)
	if err != nil {
		return err
	}
	for _, d := range ents {
		if keep[d.name] {
			continue
		}
		if err := removeAt(fd, d.name, join(rel, d.name)); err != nil {
			return err
		}
	}
	return nil
}

// Empty removes every entry of the directory rel except those named in
// keep, descending with O_NOFOLLOW (links are removed, not followed).
func (r *Root) Empty(rel string, keep map[string]bool) error {
	clean, err := Clean(rel)
	if err != nil {
		return &fs.PathError{Op: "remove", Path: rel, Err: err}
	}
	if clean == "." {
		return emptyAt(r.fd, ".", ".", keep)
	}
	pfd, base, clean, err := r.parent("remove", clean)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	return emptyAt(pfd, base, clean, keep)
}

// info is an fs.FileInfo from a stat structure.
type info struct {
	name string
	st   unix.Stat_t
}

func newInfo(name string, st *unix.Stat_t) fs.FileInfo { return &info{name: name, st: *st} }

func (i *info) Name() string       { return i.name }
func (i *info) Size() int64        { return i.st.Size }
func (i *info) ModTime() time.Time { return time.Unix(i.st.Mtim.Sec, i.st.Mtim.Nsec) }
func (i *info) IsDir() bool        { return i.Mode().IsDir() }
func (i *info) Sys() any           { return &i.st }

// Mode converts st_mode to fs.FileMode.
func (i *info) Mode() fs.FileMode {
	m := fs.FileMode(i.st.Mode & 0o777)
	switch i.st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	}
	if i.st.Mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if i.st.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if i.st.Mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}
