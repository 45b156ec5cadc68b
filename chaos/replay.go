package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/internal/statedir"
	"github.com/aiuptime/aiuptime/stack"
)

// QuarantineDir is where Replay moves records it will not replay.
func QuarantineDir(journalDir string) string { return filepath.Join(journalDir, "quarantine") }

// ErrQuarantined says records were moved to the quarantine directory
// instead of being replayed: what they injected may still be in force.
var ErrQuarantined = errors.New("journal records quarantined")

// Quarantined is a journal file Replay moved aside, and why.
type Quarantined struct {
	// File is where it is now (in QuarantineDir); Reason is in File+".reason".
	File   string
	Reason string
	// Record is the record, when the file was readable.
	Record *Record
}

// ReplayResult lists what Replay did.
type ReplayResult struct {
	// Reverted records were undone (or their target was gone) and removed.
	Reverted []Record
	// Failed records could not be undone; they stay in the journal.
	Failed []Record
	// Live records belong to a process that still runs (a drill in
	// progress): they were left alone.
	Live []Record
	// Quarantined files were no readable record, named an unknown
	// reverter, or failed their checks; they were moved aside.
	Quarantined []Quarantined
}

// Replay reverts the records left in journalDir by owners that are gone
// (after a crash or SIGKILL), last in first out, removing each record whose
// revert succeeded. Records of a live owner are left alone (WithRun and
// WithForce revert one run's records even so). Each record is checked
// before it acts (its state's Check, against what its labels' containers
// provably own); a file that is no readable record, names an unknown
// reverter or fails its checks is moved to QuarantineDir with a reason
// file, and the rest are still reverted. Failures are joined into the
// error: *RevertError values and ErrQuarantined, both exit code 4.
func Replay(ctx context.Context, journalDir string, opts ...Option) (ReplayResult, error) {
	var res ReplayResult
	o, err := buildOptions(opts)
	if err != nil {
		return res, err
	}
	stateDir := filepath.Dir(journalDir)
	for _, d := range []string{stateDir, journalDir} {
		if err := statedir.Check(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			return res, err
		}
	}
	scan, err := ScanJournal(journalDir)
	if err != nil {
		return res, err
	}
	j := &Journal{dir: journalDir, stateDir: stateDir, log: o.log, timeout: o.timeout}
	var errs []error
	for _, b := range scan.Bad {
		errs = append(errs, j.quarantine(&res, b.Name, nil, b.Err))
	}
	todo := o.pick(scan.Records, &res)
	cache := &stack.ProofCache{}
	for i := len(todo) - 1; i >= 0; i-- {
		rec := todo[i]
		sc := Scope{Run: rec.RunID, RecordID: rec.ID, Labels: rec.Labels, StateDir: stateDir, Verify: true, Prover: o.prover, Cache: cache}
		err := runReverter(ctx, rec, o.timeout, sc)
		switch {
		case errors.Is(err, ErrUntrusted):
			var re *RevertError
			if errors.As(err, &re) {
				err = re.Err
			}
			o.log.Error("journal record refused: quarantined", "id", rec.ID, "kind", rec.Kind, "target", rec.Target, "err", err)
			errs = append(errs, j.quarantine(&res, rec.ID+".json", &rec, err))
		case err != nil:
			o.log.Error("replay revert failed", "id", rec.ID, "kind", rec.Kind, "target", rec.Target, "err", err)
			res.Failed = append(res.Failed, rec)
			errs = append(errs, err)
		default:
			if err := j.Remove(rec.ID); err != nil {
				res.Failed = append(res.Failed, rec)
				errs = append(errs, &RevertError{Fault: rec.Kind, Target: rec.Target, Err: err})
				continue
			}
			o.log.Info("replayed revert", "id", rec.ID, "kind", rec.Kind, "target", rec.Target, "mechanism", rec.Mechanism)
			res.Reverted = append(res.Reverted, rec)
		}
	}
	if n := len(res.Quarantined); n > 0 {
		errs = append(errs, exitcode.Wrap(exitcode.Revert, fmt.Errorf("%w: %d moved to %s (not reverted: what they injected may still be in force; see the .reason files)",
			ErrQuarantined, n, QuarantineDir(journalDir))))
	}
	return res, errors.Join(errs...)
}

// pick picks the records Replay may revert: of the chosen run, if any,
// and of owners that are gone (or forced); live ones go to res.Live.
func (o options) pick(recs []Record, res *ReplayResult) []Record {
	var out []Record
	for _, r := range recs {
		if o.run != "" && r.RunID != o.run {
			continue
		}
		if r.OwnerAlive() && !(o.force && o.run != "") {
			res.Live = append(res.Live, r)
			continue
		}
		out = append(out, r)
	}
	return out
}

// quarantine moves the journal file name to QuarantineDir and writes why
// beside it. It returns an error only when the move itself failed.
func (j *Journal) quarantine(res *ReplayResult, name string, rec *Record, why error) error {
	qdir, err := statedir.Sub(j.dir, "quarantine")
	if err != nil {
		return fmt.Errorf("quarantine %s: %w", name, err)
	}
	dst := filepath.Join(qdir, name)
	if _, err := os.Lstat(dst); err == nil {
		dst = filepath.Join(qdir, strings.TrimSuffix(name, ".json")+"."+time.Now().UTC().Format("20060102T150405.000000000")+".json")
	}
	reason := fmt.Sprintf("quarantined %s by pid %d: %v\n", time.Now().UTC().Format(time.RFC3339), os.Getpid(), why)
	if err := os.WriteFile(dst+".reason", []byte(reason), 0o600); err != nil {
		return fmt.Errorf("quarantine %s: %w", name, err)
	}
	if err := os.Rename(filepath.Join(j.dir, name), dst); err != nil {
		return fmt.Errorf("quarantine %s: %w", name, err)
	}
	if err := syncDir(qdir); err != nil {
		return err
	}
	if err := syncDir(j.dir); err != nil {
		return err
	}
	res.Quarantined = append(res.Quarantined, Quarantined{File: dst, Reason: strings.TrimSpace(why.Error()), Record: rec})
	return nil
}
