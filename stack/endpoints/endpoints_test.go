package endpoints

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aiuptime/aiuptime/stack"
)

func TestEndpoints(t *testing.T) {
	s, err := New([]stack.Service{
		{Name: "gateway", Role: stack.RoleGateway, URL: "http://127.0.0.1:4000/", ContainerID: "abc", PID: 42},
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
	if gw.URL != "http://127.0.0.1:4000" || gw.HealthPath != DefaultGatewayHealthPath || gw.ContainerID != "" || gw.PID != 0 {
		t.Errorf("gateway = %+v", gw)
	}
	if m, _ := s.Service(ctx, "model-0"); m.HealthPath != "/health" || m.ModelName != "m" {
		t.Errorf("model-0 = %+v", m)
	}
	if _, err := s.Service(ctx, "nope"); !errors.Is(err, stack.ErrNotFound) {
		t.Errorf("unknown service: %v", err)
	}
	var r stack.Replacer = s
	_, err = r.ReplaceService(ctx, "model-0")
	if !errors.Is(err, stack.ErrUnsupported) || !strings.Contains(err.Error(), "unsupported on an endpoints stack") {
		t.Errorf("ReplaceService: %v", err)
	}
	if _, err := New([]stack.Service{{Name: "x", URL: "ftp://x"}}); err == nil {
		t.Error("ftp url accepted")
	}
}
