package stack_test

import (
	"testing"

	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/endpoints"
)

type cluster struct{ *endpoints.Stack }

func (cluster) Namespace() string { return "ns" }

type mover struct {
	*endpoints.Stack
	moves bool
}

func (m mover) AddressesMove() bool { return m.moves }

func TestAddressesMove(t *testing.T) {
	base, err := endpoints.New([]stack.Service{{Name: "gateway", Role: stack.RoleGateway, URL: "http://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		st   stack.Stack
		want bool
	}{
		"plain URLs stay":       {base, false},
		"a cluster's pods move": {cluster{base}, true},
		"a mover that moves":    {mover{base, true}, true},
		"a mover that does not": {mover{base, false}, false},
	} {
		if got := stack.AddressesMove(tc.st); got != tc.want {
			t.Errorf("%s: AddressesMove = %v, want %v", name, got, tc.want)
		}
	}
}
