package dockerhost

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

type output struct{ stdout, stderr bytes.Buffer }

// demux splits Docker's multiplexed stream (a container without a TTY).
func demux(r io.Reader) (*output, error) {
	var o output
	if _, err := stdcopy.StdCopy(&o.stdout, &o.stderr, r); err != nil {
		return &o, err
	}
	return &o, nil
}

// Exec implements stack.Execer: docker exec, stdout returned, a non-zero
// exit status an error carrying stderr.
func (h *Host) Exec(ctx context.Context, service string, argv []string) ([]byte, error) {
	ins, _, err := h.running(ctx, service)
	if err != nil {
		return nil, err
	}
	return h.ExecIn(ctx, ins.ID, argv)
}

// ExecIn runs argv in a container by id (for providers that exec in
// containers that are no service of theirs, such as a compose project's
// database; the caller proves ownership).
func (h *Host) ExecIn(ctx context.Context, containerID string, argv []string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("exec in %s: no command", ShortID(containerID))
	}
	ex, err := h.cli.ContainerExecCreate(ctx, containerID, container.ExecOptions{Cmd: argv, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return nil, fmt.Errorf("exec %s in %s: %w", argv[0], ShortID(containerID), err)
	}
	att, err := h.cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return nil, fmt.Errorf("exec %s in %s: attach: %w", argv[0], ShortID(containerID), err)
	}
	defer att.Close()
	out, err := demux(att.Reader)
	if err != nil {
		return nil, fmt.Errorf("exec %s in %s: read: %w", argv[0], ShortID(containerID), err)
	}
	res, err := h.cli.ContainerExecInspect(ctx, ex.ID)
	if err != nil {
		return nil, fmt.Errorf("exec %s in %s: inspect: %w", argv[0], ShortID(containerID), err)
	}
	if res.ExitCode != 0 {
		return out.stdout.Bytes(), fmt.Errorf("%s in %s exited %d: %s", argv[0], ShortID(containerID), res.ExitCode, strings.TrimSpace(out.stderr.String()))
	}
	return out.stdout.Bytes(), nil
}
