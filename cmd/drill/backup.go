package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aiuptime/aiuptime/backup"
	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/stack"
	dockerstack "github.com/aiuptime/aiuptime/stack/docker"
	"github.com/aiuptime/aiuptime/stack/stackfile"
)

func init() {
	addCommand(newBackupCmd)
	addCommand(newRestoreCmd)
}

// attachFlags choose a running stack: a stack file (docker or endpoints
// kind) or an embedded stack's run id (`drill stack up` prints it).
type attachFlags struct {
	stackFile string
	runID     string
	keyEnv    string
}

func (a *attachFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&a.stackFile, "stack", "", "stack file of a running deployment (kind docker)")
	cmd.Flags().StringVar(&a.runID, "run", "", "run id of a running embedded stack (drill stack up)")
	cmd.Flags().StringVar(&a.keyEnv, "api-key-env", "LITELLM_MASTER_KEY", "environment variable holding the gateway master key (with --run)")
}

func (a *attachFlags) open(ctx context.Context) (stack.Stack, error) {
	switch {
	case a.stackFile != "" && a.runID != "":
		return nil, exitcode.Wrap(exitcode.Usage, errors.New("--stack and --run are exclusive"))
	case a.stackFile != "":
		f, err := stackfile.Load(a.stackFile)
		if err != nil {
			return nil, exitcode.Wrap(exitcode.Usage, err)
		}
		learnStackFile(f)
		if f.Kind == stackfile.KindContainers {
			return nil, exitcode.Wrap(exitcode.Usage, errors.New("a containers stack file would start a new stack: attach with --run ID or a docker stack file"))
		}
		st, err := f.Open(ctx, stackfile.WithLogger(logger))
		if err != nil {
			return nil, exitcode.Wrap(exitcode.Harness, err)
		}
		learnStack(st)
		return st, nil
	case a.runID != "":
		redactor.Add(os.Getenv(a.keyEnv))
		st, err := attachRun(ctx, a.runID, os.Getenv(a.keyEnv))
		if err != nil {
			return nil, exitcode.Wrap(exitcode.Harness, err)
		}
		return st, nil
	}
	return nil, exitcode.Wrap(exitcode.Usage, errors.New("say which stack: --run ID or --stack FILE"))
}

// attachRun attaches to the running embedded stack of runID: its
// containers, chosen by their run label, as an attached deployment (nothing
// is created or removed).
func attachRun(ctx context.Context, runID, apiKey string) (stack.Stack, error) {
	st, err := dockerstack.Attach(ctx, dockerstack.WithSelector(map[string]string{stack.LabelRun: runID}),
		dockerstack.WithAPIKey(apiKey), dockerstack.WithLogger(logger))
	if err != nil {
		return nil, fmt.Errorf("attach to run %s: %w", runID, err)
	}
	return st, nil
}

func newBackupCmd() *cobra.Command {
	var (
		at    attachFlags
		out   string
		execs []string
	)
	cmd := &cobra.Command{
		Use:   "backup --out DIR (--run ID | --stack FILE)",
		Short: "Snapshot a running stack: configuration, models, gateway data (online), system state",
		Long: `Write a snapshot directory with manifest.json (sha256 and size of every file,
created_at, source): the gateway's config file, the stack file, every model volume,
the gateway database copied consistently while it serves (SQLite VACUUM INTO) and
the system state (image IDs and /version of each service).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return exitcode.Wrap(exitcode.Usage, errors.New("--out DIR is required"))
			}
			ctx := cmd.Context()
			st, err := at.open(ctx)
			if err != nil {
				return err
			}
			var opts []backup.Option
			if at.stackFile != "" {
				opts = append(opts, backup.WithStackFile(at.stackFile))
			}
			src, err := backup.ForStack(ctx, st, append(opts, backup.WithLogger(logger))...)
			if err != nil {
				return exitcode.Wrap(exitcode.Harness, err)
			}
			for _, e := range execs {
				c, err := parseExec(e, st)
				if err != nil {
					return exitcode.Wrap(exitcode.Usage, err)
				}
				src = append(src, c)
			}
			m, err := backup.Snapshot(ctx, out, st.Kind()+"/"+st.RunID(), src...)
			if err != nil {
				return exitcode.Wrap(exitcode.Harness, err)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "backup %s: %d files, %d bytes in %.2fs\n", out, len(m.Entries), m.Bytes, m.Seconds)
			for _, s := range m.Describe() {
				fmt.Fprintf(w, "  %s\n", s)
			}
			return nil
		},
	}
	at.add(cmd)
	cmd.Flags().StringVar(&out, "out", "", "snapshot directory to create (must not exist or be empty)")
	cmd.Flags().StringArrayVar(&execs, "exec", nil, `also store a command's stdout, run inside a service or a container of
the attached compose project: NAME=SERVICE:COMMAND ARGS...
(e.g. "litellm-db=postgres:pg_dump -U litellm litellm")`)
	return cmd
}

// parseExec parses NAME=SERVICE:COMMAND ARGS... into a command source run
// through the stack's exec capability.
func parseExec(s string, st stack.Stack) (backup.Command, error) {
	name, rest, ok := strings.Cut(s, "=")
	svc, command, ok2 := strings.Cut(rest, ":")
	args := strings.Fields(command)
	if !ok || !ok2 || name == "" || svc == "" || len(args) == 0 {
		return backup.Command{}, fmt.Errorf("--exec %q: want NAME=SERVICE:COMMAND ARGS", s)
	}
	ex, ok := st.(stack.Execer)
	if !ok {
		return backup.Command{}, fmt.Errorf("--exec %q: the %s stack cannot exec: %w", s, st.Kind(), stack.ErrUnsupported)
	}
	return backup.Command{ID: name, Stack: ex, Service: svc, Cmd: args, File: name + ".out"}, nil
}

func newRestoreCmd() *cobra.Command {
	var (
		at         attachFlags
		only       string
		verifyOnly bool
	)
	cmd := &cobra.Command{
		Use:   "restore DIR (--run ID | --stack FILE)",
		Short: "Verify a snapshot's checksums, then restore it into a running stack; prints RTO and RPO",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			// Verify before attaching to anything: a bad backup touches nothing.
			m, err := backup.Verify(dir)
			if err != nil {
				return exitcode.Wrap(exitcode.Usage, err)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "backup %s verified: %d files, %d bytes, created %s\n", dir, len(m.Entries), m.Bytes, m.CreatedAt.Format(time.RFC3339))
			if verifyOnly {
				return nil
			}
			ctx := cmd.Context()
			st, err := at.open(ctx)
			if err != nil {
				return err
			}
			opts := []backup.Option{backup.WithLogger(logger)}
			if only != "" && only != "all" {
				opts = append(opts, backup.WithOnly(strings.Split(only, ",")...))
			}
			dr, err := backup.Restore(ctx, dir, st, opts...)
			if err != nil {
				return exitcode.Wrap(exitcode.Harness, err)
			}
			if dr.RTOSeconds != nil {
				fmt.Fprintf(w, "RTO %.2fs\n", *dr.RTOSeconds)
			}
			for _, p := range dr.Phases {
				fmt.Fprintf(w, "  %-28s %.2fs\n", p.Name, p.Seconds)
			}
			if dr.RPORows != nil {
				fmt.Fprintf(w, "RPO %d rows, %.2fs\n", *dr.RPORows, *dr.RPOSeconds)
			}
			if dr.GoldenPromptMatch != nil {
				fmt.Fprintf(w, "golden prompt identical: %v\n", *dr.GoldenPromptMatch)
			}
			for _, n := range dr.Notes {
				fmt.Fprintf(w, "note: %s\n", n)
			}
			if dr.GoldenPromptMatch != nil && !*dr.GoldenPromptMatch {
				return exitcode.Wrap(exitcode.Fail, errors.New("golden prompt changed after the restore"))
			}
			return nil
		},
	}
	at.add(cmd)
	cmd.Flags().StringVar(&only, "only", "all", "what to restore: all, models, data, or service names (comma-separated)")
	cmd.Flags().BoolVar(&verifyOnly, "verify", false, "only verify the checksums")
	return cmd
}
