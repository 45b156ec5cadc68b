package containers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// A size-limited data volume: an ext4 file system in an image file,
// attached to a loop device and mounted on the host under the run's state
// dir, then bind-mounted into the gateway. Filling it gives a real ENOSPC.
// Equivalent to:
//
//	truncate -s SIZE data.img && mkfs.ext4 -q data.img
//	mount -o loop data.img data/
//
// The loop device is attached with LO_FLAGS_AUTOCLEAR, so unmounting
// detaches it.

// mountLoopExt4 creates img of size bytes, formats it ext4 and mounts it at
// dir. It returns the loop device path.
func mountLoopExt4(ctx context.Context, img, dir string, size int64) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("data volume: %w", err)
	}
	f, err := os.OpenFile(img, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("data volume image: %w", err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return "", fmt.Errorf("data volume image: %w", err)
	}
	f.Close()
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		return "", fmt.Errorf("data volume: mkfs.ext4 not found: %w", err)
	}
	// root_owner: the file system root belongs to root, as in a Docker volume.
	if out, err := exec.CommandContext(ctx, mkfs, "-q", "-F", "-m", "0", "-E", "root_owner=0:0", img).CombinedOutput(); err != nil {
		return "", fmt.Errorf("data volume: mkfs.ext4: %w: %s", err, strings.TrimSpace(string(out)))
	}
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return "", fmt.Errorf("data volume: loop devices: %w", err)
	}
	defer ctl.Close()
	imgf, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		return "", fmt.Errorf("data volume image: %w", err)
	}
	defer imgf.Close()
	// LOOP_CTL_GET_FREE can race with another process taking the same
	// device: retry a few times on EBUSY.
	for attempt := 0; attempt < 8; attempt++ {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return "", fmt.Errorf("data volume: LOOP_CTL_GET_FREE: %w", err)
		}
		dev := fmt.Sprintf("/dev/loop%d", n)
		lf, err := os.OpenFile(dev, os.O_RDWR, 0)
		if err != nil {
			return "", fmt.Errorf("data volume: open %s: %w", dev, err)
		}
		if err := unix.IoctlSetInt(int(lf.Fd()), unix.LOOP_SET_FD, int(imgf.Fd())); err != nil {
			lf.Close()
			if errors.Is(err, unix.EBUSY) {
				continue
			}
			return "", fmt.Errorf("data volume: LOOP_SET_FD %s: %w", dev, err)
		}
		info := unix.LoopInfo64{Flags: unix.LO_FLAGS_AUTOCLEAR}
		copy(info.File_name[:], img)
		if err := unix.IoctlLoopSetStatus64(int(lf.Fd()), &info); err != nil {
			_ = unix.IoctlSetInt(int(lf.Fd()), unix.LOOP_CLR_FD, 0)
			lf.Close()
			return "", fmt.Errorf("data volume: LOOP_SET_STATUS64 %s: %w", dev, err)
		}
		// Mount while our fd still holds the device: with autoclear, the
		// last close before the mount would detach it.
		if err := unix.Mount(dev, dir, "ext4", unix.MS_NOATIME, ""); err != nil {
			lf.Close() // autoclear detaches
			return "", fmt.Errorf("data volume: mount %s on %s: %w", dev, dir, err)
		}
		lf.Close()
		return dev, nil
	}
	return "", errors.New("data volume: no free loop device after retries")
}

// unmountDir unmounts dir if it is a mount point ("not mounted" is success).
func unmountDir(dir string) error {
	mounted, err := isMountPoint(dir)
	if err != nil || !mounted {
		return err
	}
	err = unix.Unmount(dir, 0)
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(dir, unix.MNT_DETACH)
	}
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", dir, err)
	}
	return nil
}

// isMountPoint reports whether dir is listed in /proc/self/mountinfo.
func isMountPoint(dir string) (bool, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false, err
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false, fmt.Errorf("read mountinfo: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 4 && unescapeMount(fields[4]) == abs {
			return true, nil
		}
	}
	return false, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + byte(c-'0')
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
