package chaos

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/stack"
)

// Sealed journal state: a record whose state holds secrets (a removed
// container's configuration, with its environment and command line) is
// journaled encrypted and authenticated with AES-256-GCM under a key kept
// in the state directory (journal.key, 0600, made on first use). The
// record's id, kind and reverter are the additional data, so a sealed
// state cannot be moved to another record, and a state altered on disk
// does not open: the record is quarantined.
//
// What it protects: the journal's files, and any copy of them (a support
// bundle, a backup of the journal directory, a file shown by mistake), hold
// no secret in clear. What it does not: whoever can read the key file,
// i.e. the user running the harness (root), can open them; the key never
// leaves the state directory.

// KeyFile is the journal key's name inside the state directory.
const KeyFile = "journal.key"

const keySize = 32

// encode marshals state into rec.State, sealed when rec.Sealed asks for it
// and the journal writes to disk (an in-memory record stays plain).
func (j *Journal) encode(rec *Record, state any) error {
	b, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("journal %s state: %w", rec.Kind, err)
	}
	if !rec.Sealed || j == nil {
		rec.Sealed = false
		rec.State = b
		return nil
	}
	key, err := journalKey(j.stateDir, true)
	if err != nil {
		return fmt.Errorf("journal %s: %w", rec.Kind, err)
	}
	sealed, err := seal(key, b, sealData(*rec))
	if err != nil {
		return fmt.Errorf("journal %s: seal state: %w", rec.Kind, err)
	}
	rec.State, _ = json.Marshal(sealed) // []byte marshals as a base64 string
	return nil
}

// openState returns rec's state as its reverter reads it: opened with the
// key of stateDir when sealed. A sealed state that does not open is
// untrusted.
func openState(rec Record, stateDir string) (json.RawMessage, error) {
	if !rec.Sealed {
		return rec.State, nil
	}
	var sealed []byte
	if err := json.Unmarshal(rec.State, &sealed); err != nil {
		return nil, stack.Untrusted("sealed state of %s is no base64 string: %v", rec.ID, err)
	}
	key, err := journalKey(stateDir, false)
	if err != nil {
		return nil, stack.Untrusted("sealed state of %s: %v", rec.ID, err)
	}
	b, err := open(key, sealed, sealData(rec))
	if err != nil {
		return nil, stack.Untrusted("sealed state of %s does not open with %s (altered, or from another state directory): %v",
			rec.ID, filepath.Join(stateDir, KeyFile), err)
	}
	return b, nil
}

func sealData(rec Record) []byte { return []byte(rec.ID + "\x00" + rec.Kind + "\x00" + rec.Reverter) }

func seal(key, plain, data []byte) ([]byte, error) {
	aead, err := gcm(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plain, data), nil
}

func open(key, sealed, data []byte) ([]byte, error) {
	aead, err := gcm(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, errors.New("too short")
	}
	return aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], data)
}

func gcm(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// journalKey reads the state directory's journal key, making it first if
// create is set. A key file that is a link, not this user's, readable by
// others or of the wrong size is refused.
func journalKey(stateDir string, create bool) ([]byte, error) {
	path := filepath.Join(stateDir, KeyFile)
	key, err := readKey(path)
	if !errors.Is(err, fs.ErrNotExist) || !create {
		return key, err
	}
	fresh := make([]byte, keySize)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(stateDir, ".journal.key-")
	if err != nil {
		return nil, fmt.Errorf("journal key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(fresh); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("journal key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("journal key: %w", err)
	}
	tmp.Close()
	// A link never replaces an existing key: two processes making one at
	// once both end up with the one that was linked first.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("journal key: %w", err)
	}
	return readKey(path)
}

func readKey(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("journal key %s: %w", path, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("journal key %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("journal key %s: %w", path, err)
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return nil, fmt.Errorf("journal key %s: not a regular file", path)
	case int(st.Uid) != os.Geteuid():
		return nil, fmt.Errorf("journal key %s: owned by uid %d, not %d", path, st.Uid, os.Geteuid())
	case st.Mode&0o077 != 0:
		return nil, fmt.Errorf("journal key %s: mode %04o lets others read it (want 0600)", path, st.Mode&0o777)
	case st.Size != keySize:
		return nil, fmt.Errorf("journal key %s: %d bytes, want %d", path, st.Size, keySize)
	}
	key := make([]byte, keySize)
	if _, err := f.ReadAt(key, 0); err != nil {
		return nil, fmt.Errorf("journal key %s: %w", path, err)
	}
	return key, nil
}
