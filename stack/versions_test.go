package stack_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/endpoints"
)

func TestVersions(t *testing.T) {
	model := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"version":"0.10.2"}`))
	}))
	defer model.Close()
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health/readiness" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"status":"connected","db":"connected","litellm_version":"1.74.9"}`))
	}))
	defer gw.Close()
	broken := httptest.NewServer(http.NotFoundHandler())
	defer broken.Close()
	// Ollama answers only /api/version (its /version is a 404).
	ollama := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/version" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"version":"0.17.4"}`))
	}))
	defer ollama.Close()

	st, err := endpoints.New([]stack.Service{
		{Name: "gateway", Role: stack.RoleGateway, URL: gw.URL},
		{Name: "model-0", Role: stack.RoleModel, URL: model.URL},
		{Name: "model-1", Role: stack.RoleModel, URL: broken.URL},
		{Name: "model-2", Role: stack.RoleModel, URL: ollama.URL, Server: stack.ServerOllama},
	})
	if err != nil {
		t.Fatal(err)
	}
	vs, err := stack.Versions(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if vs[0].Version != "1.74.9" || vs[1].Version != "0.10.2" || vs[1].String() != "0.10.2" {
		t.Errorf("versions = %+v", vs)
	}
	if vs[2].Version != "" || vs[2].Err == "" || vs[2].String() != "unknown" {
		t.Errorf("a server without /version: %+v", vs[2])
	}
	if vs[3].Version != "0.17.4" {
		t.Errorf("an Ollama server's version: %+v", vs[3])
	}
	v := stack.Version{Version: "1", ImageID: "sha256:0123456789abcdef0123"}
	if v.String() != "1 (sha256:0123456789ab)" {
		t.Errorf("String() = %q", v.String())
	}
}

func TestUnsupported(t *testing.T) {
	err := stack.Unsupported("endpoints", "gpu-kill on model-0")
	if !errors.Is(err, stack.ErrUnsupported) || err.Error() != "gpu-kill on model-0: unsupported on an endpoints stack" {
		t.Errorf("err = %v", err)
	}
	if err := stack.Unsupported("docker", "x"); err.Error() != "x: unsupported on a docker stack" {
		t.Errorf("err = %v", err)
	}
}
