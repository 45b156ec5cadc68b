package network

import (
	"fmt"

	"github.com/aiuptime/aiuptime/hostcaps"
)

// DelayMechanism is what network-delay uses on kernel k: netem, or
// toxiproxy when netem is missing and a proxy is in front of the target.
func DelayMechanism(k hostcaps.Kernel, hasProxy bool) (string, error) {
	if k.Netem {
		return MechNetem, nil
	}
	if hasProxy {
		return MechToxiproxy, nil
	}
	return "", fmt.Errorf("network-delay: sch_netem missing (%s) and no toxiproxy in front of the target", k.Why("netem"))
}

// LossMechanism is what network-loss uses: netem, else nftables numgen.
func LossMechanism(k hostcaps.Kernel) (string, error) {
	if k.Netem {
		return MechNetem, nil
	}
	if k.NftNumgen {
		return MechNftables, nil
	}
	return "", fmt.Errorf("network-loss: neither netem (%s) nor nftables numgen (%s)", k.Why("netem"), k.Why("nft_numgen"))
}
