package param

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckServiceName(t *testing.T) {
	for _, ok := range []string{"gateway", "model-0", "model-12", "proxy", "vllm", "litellm", "db", "ollama-1", "embedder", "engine", "web.1", "eth-proxy", "hostess", "lookup", "model_a"} {
		if err := CheckServiceName(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"eth0", "ETH1", "lo", "host", "localhost", "self", "1", "4242", "enp0s3", "ens33", "eno1", "enx001122334455",
		"wlan0", "wlp2s0", "docker0", "br-0123456789ab", "veth1a2b3c4d", "virbr0", "tun0", "tap1", "bond0", "cali0123abcd", "flannel.1", "cni0", "wg0"} {
		if err := CheckServiceName(bad); !errors.Is(err, ErrHostLevel) {
			t.Errorf("%q: %v, want ErrHostLevel", bad, err)
		}
	}
	for _, bad := range []string{"", "-x", "a b", "model/0", "../x", "a\n"} {
		if err := CheckServiceName(bad); err == nil || !strings.Contains(err.Error(), "is not a service name") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestDecodeServiceAndIntParams(t *testing.T) {
	specs := []Spec{{Name: "peer", Type: Service}, {Name: "n", Type: Int}}
	for _, tc := range []struct {
		raw  map[string]any
		want string
	}{
		{map[string]any{"peer": "eth0"}, "params.peer: \"eth0\" looks like a network interface of the host"},
		{map[string]any{"peer": "1"}, "params.peer: 1 is a bare number"},
		{map[string]any{"n": uint64(1 << 63)}, "params.n: 9223372036854775808 overflows"},
		{map[string]any{"n": "99999999999999999999"}, "params.n: 99999999999999999999 overflows"},
		{map[string]any{"n": 1e19}, "params.n: 1e+19 overflows"},
	} {
		if _, err := Decode("k", specs, tc.raw); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.raw, err, tc.want)
		}
	}
}
