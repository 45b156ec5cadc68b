package probe

import (
	"context"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Resolver returns the target's base URL now. A target that moves (a
// Kubernetes pod replaced by its Deployment gets a new address) is
// followed through it.
type Resolver func(ctx context.Context) (string, error)

// DefaultResolveEvery is how often WithResolver re-reads the target.
const DefaultResolveEvery = 500 * time.Millisecond

// WithResolver makes the probe re-read its base URL through r at most
// every `every` (0: DefaultResolveEvery), in the background, so that a
// slow lookup never delays a request; until the first answer, and when r
// fails or returns no valid URL, the last base URL is kept. Without it,
// or with a nil r, the base URL given to New is used for the probe's life.
func WithResolver(r Resolver, every time.Duration) Option {
	return func(o *options) error {
		if every <= 0 {
			every = DefaultResolveEvery
		}
		o.resolver, o.resolveEvery = r, every
		return nil
	}
}

// resolving is the moving base URL of a probe with a resolver.
type resolving struct {
	cur      atomic.Pointer[url.URL]
	last     atomic.Int64 // unix ns of the last lookup started
	inFlight atomic.Bool
}

// baseURL returns the base URL to send to now, starting a lookup when
// the last one is older than resolveEvery.
func (p *Probe) baseURL() *url.URL {
	if p.o.resolver == nil {
		return p.base
	}
	now := time.Now().UnixNano()
	if now-p.res.last.Load() >= int64(p.o.resolveEvery) && p.res.inFlight.CompareAndSwap(false, true) {
		p.res.last.Store(now)
		go p.resolve()
	}
	if u := p.res.cur.Load(); u != nil {
		return u
	}
	return p.base
}

func (p *Probe) resolve() {
	defer p.res.inFlight.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := p.o.resolver(ctx)
	if err != nil || s == "" {
		return
	}
	u, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return
	}
	u.Path = strings.TrimSuffix(u.Path, "/v1")
	old := p.res.cur.Load()
	if old == nil {
		old = p.base
	}
	if old.String() != u.String() {
		p.o.logger.Info("probe target moved", "target", u.Redacted())
	}
	p.res.cur.Store(u)
}
