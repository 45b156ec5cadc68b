package plan

import (
	"errors"
	"path/filepath"

	"github.com/aiuptime/aiuptime/internal/yamldoc"
	"github.com/aiuptime/aiuptime/slo"
)

// OpenSLOFile returns the slo.openslo file's path resolved against the
// plan's directory ("" when the plan names none).
func (p *Plan) OpenSLOFile() string {
	if p.SLO.OpenSLO == "" {
		return ""
	}
	return p.resolve(p.SLO.OpenSLO)
}

// openSLO reads the plan's OpenSLO file into p.SLO.Loaded. The path must
// stay inside the plan's directory (no absolute path, no ..): a plan
// shared with others cannot make the tool read files elsewhere. Problems
// inside the file are placed in it (file:line:col and field).
func (c *checker) openSLO() {
	rel := c.p.SLO.OpenSLO
	if rel == "" {
		return
	}
	at := path("slo", "openslo")
	if !filepath.IsLocal(rel) {
		c.bad(at, "%q: give a path relative to the plan file, inside its directory", rel)
		return
	}
	set, err := slo.LoadOpenSLO(c.p.OpenSLOFile())
	var es yamldoc.Errors
	var e *yamldoc.Error
	switch {
	case err == nil:
		c.p.SLO.Loaded = set
	case errors.As(err, &es):
		c.errs = append(c.errs, es...)
	case errors.As(err, &e) && e.Line > 0:
		c.errs = append(c.errs, e)
	default:
		c.bad(at, "%v", err)
	}
}
