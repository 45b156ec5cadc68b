package local

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// SandboxImage is the pod sandbox ("pause") image of the real node. There is
// no registry: Up builds it (one static binary that blocks forever) and
// imports it into the node's containerd, whose CRI plugin is told to use it.
const SandboxImage = "localhost/aiuptime/pause:1"

// pauseELF returns a minimal static x86-64 Linux executable that blocks
// forever, the whole job of a pod sandbox's process:
//
//	loop: mov eax, 34   ; SYS_pause
//	      syscall
//	      jmp loop
//
// It is PID 1 of its PID namespace, so signals without a handler are
// ignored; containerd stops a sandbox with SIGKILL. One ELF header, one
// PT_LOAD segment (the whole file, read+execute), no sections.
func pauseELF() ([]byte, error) {
	if runtime.GOARCH != "amd64" {
		return nil, fmt.Errorf("sandbox image: no pause program for %s (only amd64)", runtime.GOARCH)
	}
	code := []byte{0xb8, 0x22, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xeb, 0xf7}
	const base, ehSize, phSize = 0x400000, 64, 56
	size := uint64(ehSize + phSize + len(code))
	var b bytes.Buffer
	le := binary.LittleEndian
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* little endian */, 1 /* version */, 0 /* SysV */})
	b.Write(make([]byte, 8))
	for _, v := range []any{
		uint16(2),                                 // e_type: ET_EXEC
		uint16(62),                                // e_machine: EM_X86_64
		uint32(1),                                 // e_version
		uint64(base + ehSize + phSize),            // e_entry: the code after the headers
		uint64(ehSize),                            // e_phoff
		uint64(0),                                 // e_shoff
		uint32(0),                                 // e_flags
		uint16(ehSize), uint16(phSize), uint16(1), // e_ehsize, e_phentsize, e_phnum
		uint16(0), uint16(0), uint16(0), // e_shentsize, e_shnum, e_shstrndx
		// The program header: PT_LOAD, PF_R|PF_X, the file from offset 0.
		uint32(1), uint32(5), uint64(0), uint64(base), uint64(base), size, size, uint64(0x1000),
	} {
		if err := binary.Write(&b, le, v); err != nil {
			return nil, err
		}
	}
	b.Write(code)
	return b.Bytes(), nil
}

// ociBlob is one content-addressed blob of an OCI image layout.
type ociBlob struct {
	mediaType string
	data      []byte
}

func (b ociBlob) digest() string {
	s := sha256.Sum256(b.data)
	return "sha256:" + hex.EncodeToString(s[:])
}

func (b ociBlob) descriptor() map[string]any {
	return map[string]any{"mediaType": b.mediaType, "digest": b.digest(), "size": len(b.data)}
}

// sandboxImageTar returns an OCI image layout archive (what `ctr images
// import` reads) of a FROM-scratch image named ref whose entrypoint is
// /pause (pauseELF), in one uncompressed layer.
func sandboxImageTar(ref string) ([]byte, error) {
	elf, err := pauseELF()
	if err != nil {
		return nil, err
	}
	layer, err := tarOf(map[string][]byte{"pause": elf}, 0o755)
	if err != nil {
		return nil, err
	}
	lb := ociBlob{"application/vnd.oci.image.layer.v1.tar", layer}
	cfg, err := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH, "os": "linux",
		"config": map[string]any{"Entrypoint": []string{"/pause"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{lb.digest()}},
	})
	if err != nil {
		return nil, fmt.Errorf("sandbox image config: %w", err)
	}
	cb := ociBlob{"application/vnd.oci.image.config.v1+json", cfg}
	man, err := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": cb.descriptor(), "layers": []any{lb.descriptor()},
	})
	if err != nil {
		return nil, fmt.Errorf("sandbox image manifest: %w", err)
	}
	mb := ociBlob{"application/vnd.oci.image.manifest.v1+json", man}
	md := mb.descriptor()
	tag := ref[strings.LastIndex(ref, ":")+1:]
	md["annotations"] = map[string]string{"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": tag}
	index, err := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []any{md}})
	if err != nil {
		return nil, fmt.Errorf("sandbox image index: %w", err)
	}
	files := map[string][]byte{"oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`), "index.json": index}
	for _, b := range []ociBlob{lb, cb, mb} {
		files["blobs/sha256/"+strings.TrimPrefix(b.digest(), "sha256:")] = b.data
	}
	return tarOf(files, 0o644)
}

// tarOf archives files (name -> content) with mode, in a stable order.
func tarOf(files map[string][]byte, mode int64) ([]byte, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	epoch := time.Unix(0, 0)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: mode, Size: int64(len(files[n])), ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
			return nil, fmt.Errorf("tar %s: %w", n, err)
		}
		if _, err := tw.Write(files[n]); err != nil {
			return nil, fmt.Errorf("tar %s: %w", n, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("tar: %w", err)
	}
	return b.Bytes(), nil
}

// ctrImport imports the image archive read from r into the k8s.io
// namespace of the containerd at sock (the namespace the CRI plugin uses).
//
// Equivalent to: ctr -a SOCK -n k8s.io images import -
func ctrImport(ctx context.Context, sock string, r io.Reader) error {
	cmd := exec.CommandContext(ctx, "ctr", "-a", sock, "-n", criNamespace, "images", "import", "--no-unpack=false", "-")
	cmd.Stdin = r
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("ctr images import: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// importDockerImages pipes `docker save refs...` into ctrImport.
func importDockerImages(ctx context.Context, sock string, refs []string) error {
	save := exec.CommandContext(ctx, "docker", append([]string{"save"}, refs...)...)
	var stderr bytes.Buffer
	save.Stderr = &stderr
	out, err := save.StdoutPipe()
	if err != nil {
		return fmt.Errorf("docker save: %w", err)
	}
	if err := save.Start(); err != nil {
		return fmt.Errorf("docker save: %w", err)
	}
	ierr := ctrImport(ctx, sock, out)
	_, _ = io.Copy(io.Discard, out)
	if err := save.Wait(); err != nil {
		return fmt.Errorf("docker save %v: %w: %s", refs, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return ierr
}
