package network

import (
	"context"
	"errors"
	"fmt"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/chaos"
)

// toxicState is what the "network/toxic" reverter needs.
type toxicState struct {
	APIURL string `json:"api_url"`
	Proxy  string `json:"proxy"`
	Toxic  string `json:"toxic"`
}

func init() { chaos.RegisterStateReverter("network/toxic", revertToxic) }

func notFound(err error) bool {
	var ae *toxiproxy.ApiError
	return errors.As(err, &ae) && ae.Status == 404
}

// revertToxic removes the record's own toxic. A proxy that is gone, or a
// Toxiproxy with nothing listening at its API (its process, which keeps
// toxics in memory only, is gone), took the toxic with it.
func revertToxic(_ context.Context, st toxicState) error {
	c := toxiproxy.NewClient(st.APIURL)
	p, err := c.Proxy(st.Proxy)
	if err != nil {
		if notFound(err) || errors.Is(err, unix.ECONNREFUSED) {
			return nil
		}
		return fmt.Errorf("toxiproxy %s proxy %s: %w", st.APIURL, st.Proxy, err)
	}
	if err := p.RemoveToxic(st.Toxic); err != nil && !notFound(err) && !errors.Is(err, unix.ECONNREFUSED) {
		return fmt.Errorf("remove toxic %s from %s: %w", st.Toxic, st.Proxy, err)
	}
	return nil
}

// applyToxic journals, then adds a toxic (downstream) to the target's proxy.
func applyToxic(ctx context.Context, d chaos.Deps, kind string, t Target, typ string, attrs toxiproxy.Attributes) (chaos.Revert, error) {
	if t.Proxy == nil {
		return chaos.NoRevert, fmt.Errorf("%s on %s: no toxiproxy in front: %w", kind, t.Service, chaos.ErrUnsupported)
	}
	id := chaos.NewID()
	st := toxicState{APIURL: t.Proxy.APIURL, Proxy: t.Proxy.Name, Toxic: ToxicFor(id)}
	rec := chaos.Record{ID: id, Kind: kind, Target: t.Service, Reverter: "network/toxic", Mechanism: MechToxiproxy}
	rev, _, err := chaos.Apply(ctx, d, rec, st, func(context.Context) error {
		p, err := toxiproxy.NewClient(st.APIURL).Proxy(st.Proxy)
		if err != nil {
			return fmt.Errorf("toxiproxy proxy %s: %w", st.Proxy, err)
		}
		if _, err := p.AddToxic(st.Toxic, typ, "downstream", 1, attrs); err != nil {
			return fmt.Errorf("add %s toxic to %s: %w", typ, st.Proxy, err)
		}
		return nil
	})
	return rev, err
}

// Toxics lists our toxics (name prefix ToxicPrefix) on a proxy, for doctor.
func Toxics(apiURL, proxy string) ([]string, error) {
	p, err := toxiproxy.NewClient(apiURL).Proxy(proxy)
	if err != nil {
		return nil, fmt.Errorf("toxiproxy proxy %s: %w", proxy, err)
	}
	ts, err := p.Toxics()
	if err != nil {
		return nil, fmt.Errorf("list toxics of %s: %w", proxy, err)
	}
	var out []string
	for _, t := range ts {
		out = append(out, t.Name)
	}
	return out, nil
}
