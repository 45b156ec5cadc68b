package main

import (
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/spf13/cobra"

	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/redact"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/stackfile"
)

// redactor masks every output of the CLI: the logger, stdout and stderr
// (cobra's writers and the error printed at exit), and the reports. It
// learns the secret-named environment variables at the start of every
// command, the secrets of the plan and stack file once they are read, and
// the stack's keys once it is open.
var redactor = redact.New()

// newLogger is the CLI's text logger at level on w, masked by redactor.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(redact.NewHandler(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}), redactor))
}

// secretStdout names the commands whose stdout deliberately carries a
// secret when the named flag is set: the contract's `drill stack up --json`
// prints the gateway key for the caller to use. Their stderr and logs stay
// masked.
var secretStdout = map[string]string{"drill stack up": "json"}

// maskOutputs learns the environment's secrets and masks cmd's stdout and
// stderr (the root's, which every subcommand writes through).
func maskOutputs(cmd *cobra.Command) {
	redactor.AddEnv(os.Environ())
	root := cmd.Root()
	if flag, ok := secretStdout[cmd.CommandPath()]; !ok || !flagSet(cmd, flag) {
		root.SetOut(redactor.Writer(root.OutOrStdout()))
	}
	root.SetErr(redactor.Writer(root.ErrOrStderr()))
}

func flagSet(cmd *cobra.Command, name string) bool {
	f := cmd.Flags().Lookup(name)
	return f != nil && f.Changed && f.Value.String() == "true"
}

// learnPlan teaches redactor the secrets a plan holds (its load.env, its
// steps' params, any URL with a password or a ?key=).
func learnPlan(p *plan.Plan) {
	if p != nil {
		redactor.LearnValue(p)
		warnIfFull()
	}
}

// warnIfFull says, once, when the redactor keeps no more values
// (redact.MaxKnown).
func warnIfFull() {
	if redactor.Len() >= redact.MaxKnown {
		warnFull.Do(func() {
			logger.Warn("more secrets than the redactor keeps: the rest are masked only where patterns find them", "kept", redact.MaxKnown)
		})
	}
}

var warnFull sync.Once

// learnStackFile teaches redactor the secrets a stack file holds (its
// services' env and args, endpoint URLs) and the gateway key its
// api_key_env names.
func learnStackFile(f *stackfile.File) {
	if f == nil {
		return
	}
	if f.APIKeyEnv != "" {
		redactor.Add(os.Getenv(f.APIKeyEnv))
	}
	redactor.LearnValue(f)
	warnIfFull()
}

// learnStack teaches redactor the keys of an open stack.
func learnStack(st stack.Stack) {
	if st != nil {
		redactor.Add(st.APIKey(), stack.ModelAPIKey(st))
	}
}
