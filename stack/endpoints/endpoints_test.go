package endpoints

import (
	"context"
	"errors"
	"testing"

	"github.com/aiuptime/aiuptime/stack"
)

func TestEndpoints(t *testing.T) {
	s, err := New([]stack.Service{
		{Name: "gateway", Role: stack.RoleGateway, URL: "http://127.0.0.1:4000/", ContainerID: "abc"},
		{Name: "model-0", Role: stack.RoleModel, URL: "http://127.0.0.1:8000"},
	}, WithAPIKey("k"), WithModelName("m"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	gw, err := s.Service(ctx, "gateway")
	if err != nil {
		t.Fatal(err)
	}
	if gw.URL != "http://127.0.0.1:4000" || gw.HealthPath != DefaultGatewayHealthPath || gw.ContainerID != "" {
		t.Errorf("gateway = %+v", gw)
	}
	if m, _ := s.Service(ctx, "model-0"); m.HealthPath != "/health" || m.ModelName != "m" {
		t.Errorf("model-0 = %+v", m)
	}
	if _, err := s.Service(ctx, "nope"); !errors.Is(err, stack.ErrNotFound) {
		t.Errorf("unknown service: %v", err)
	}
	// Plain URLs: no capability at all, exactly as declared.
	if got := stack.CapabilitiesOf(s); len(got) != 0 || len(Capabilities) != 0 {
		t.Errorf("an endpoints stack offers %v (declared %v), want nothing", got, Capabilities)
	}
	if _, err := New([]stack.Service{{Name: "x", URL: "ftp://x"}}); err == nil {
		t.Error("ftp url accepted")
	}
}
