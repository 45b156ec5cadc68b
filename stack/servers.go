package stack

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
)

// Server describes a kind of model server: where its API, health and
// version are, where it keeps its models, and which of its processes is
// the engine. A stack file names one (`model_server: ollama`); providers
// and faults read it, so a new kind of server is one Register call.
type Server struct {
	// Name is the stack file's name for it ("vllm", "ollama").
	Name string
	// Description is one line for `drill list` and error messages.
	Description string
	// Port is the API's usual container port.
	Port int
	// HealthPath is the readiness path.
	HealthPath string
	// VersionPath and VersionField say where the server reports its
	// version: a JSON object at GET VersionPath with a string field.
	VersionPath, VersionField string
	// ModelsMount is where the server reads its models from inside its
	// container (the models volume's mount path).
	ModelsMount string
	// Engine, when set, is the command line (argv[0]'s base name, then
	// arguments) that starts the process serving inference, found among
	// the service's processes without nvidia-smi (a server without GPUs,
	// or whose image has no nvidia-smi). Empty: the engine is whatever
	// nvidia-smi lists inside the service.
	Engine []string
	// EngineFlag, when set, must also be among the engine's arguments:
	// Ollama starts short-lived `ollama runner --ollama-engine --port N`
	// children to discover GPUs, and only a runner with --model serves.
	EngineFlag string
	// Provider is the LiteLLM provider prefix a gateway config uses for
	// it (litellm_params.model: "hosted_vllm/NAME").
	Provider string
	// Image is the image the embedded stack runs for it when the stack
	// file names none; empty means the fixture (aiuptime/modelserver).
	Image string
	// ModelsInImage says the image carries its model store at
	// ModelsMount: the embedded stack gives each replica an empty named
	// volume there, which Docker fills from the image on first use,
	// instead of generating a model.
	ModelsInImage bool
	// GPU says how its GPU processes are found, for reports.
	GPU string
	// HealthBeforeModel says its health path answers before the model
	// can serve (Ollama's /api/version answers while the model is still
	// loading, or is gone from its store): readiness then needs a
	// completion to succeed too.
	HealthBeforeModel bool
}

// ServerVLLM is the default kind: vLLM's OpenAI-compatible server (and the
// project's simulator of it, fixtures/modelserver).
const ServerVLLM = "vllm"

// ServerOllama is Ollama.
const ServerOllama = "ollama"

var (
	serversMu sync.RWMutex
	servers   = map[string]Server{}
)

// RegisterServer adds a kind of model server. It panics on a duplicate or
// an incomplete description: registrations are made by init functions.
func RegisterServer(s Server) {
	if s.Name == "" || s.Port == 0 || !strings.HasPrefix(s.HealthPath, "/") || !strings.HasPrefix(s.VersionPath, "/") ||
		s.VersionField == "" || s.ModelsMount == "" || s.Provider == "" {
		panic(fmt.Sprintf("stack: incomplete model server %+v", s))
	}
	serversMu.Lock()
	defer serversMu.Unlock()
	if _, ok := servers[s.Name]; ok {
		panic("stack: model server registered twice: " + s.Name)
	}
	servers[s.Name] = s
}

// LookupServer returns the kind of model server registered under name; ""
// is ServerVLLM.
func LookupServer(name string) (Server, bool) {
	if name == "" {
		name = ServerVLLM
	}
	serversMu.RLock()
	defer serversMu.RUnlock()
	s, ok := servers[name]
	return s, ok
}

// FindServer is LookupServer with an error that lists the known kinds.
func FindServer(name string) (Server, error) {
	if s, ok := LookupServer(name); ok {
		return s, nil
	}
	return Server{}, fmt.Errorf("model server %q: want one of %s", name, strings.Join(ServerNames(), ", "))
}

// ServerOf returns the kind of model server of svc (ServerVLLM when it
// names none or an unknown one).
func ServerOf(svc Service) Server {
	if s, ok := LookupServer(svc.Server); ok {
		return s
	}
	s, _ := LookupServer(ServerVLLM)
	return s
}

// ServerNames lists the registered kinds, sorted.
func ServerNames() []string {
	serversMu.RLock()
	defer serversMu.RUnlock()
	out := make([]string, 0, len(servers))
	for n := range servers {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// IsEngine reports whether the command line (arguments separated by
// spaces, as procfs reads it) starts the server's engine: argv[0]'s base
// name and the next arguments equal Engine, and EngineFlag (if any) is
// among the rest. Always false without Engine.
func (s Server) IsEngine(cmdline string) bool {
	if len(s.Engine) == 0 {
		return false
	}
	f := strings.Fields(cmdline)
	if len(f) < len(s.Engine) || path.Base(f[0]) != s.Engine[0] {
		return false
	}
	for i := 1; i < len(s.Engine); i++ {
		if f[i] != s.Engine[i] {
			return false
		}
	}
	if s.EngineFlag == "" {
		return true
	}
	for _, a := range f[len(s.Engine):] {
		if a == s.EngineFlag || strings.HasPrefix(a, s.EngineFlag+"=") {
			return true
		}
	}
	return false
}

func init() {
	RegisterServer(Server{
		Name:        ServerVLLM,
		Description: "vLLM's OpenAI-compatible server (and the project's simulator of it): /health, /version, GPU processes from nvidia-smi",
		Port:        8000, HealthPath: "/health", VersionPath: "/version", VersionField: "version",
		ModelsMount: "/models", Provider: "hosted_vllm",
	})
	RegisterServer(Server{
		Name: ServerOllama,
		Description: "Ollama: /api/version for health and version, the OpenAI API under /v1, " +
			"the engine is its `ollama runner` child, models in OLLAMA_MODELS",
		Port: 11434, HealthPath: "/api/version", VersionPath: "/api/version", VersionField: "version",
		ModelsMount: "/models", Engine: []string{"ollama", "runner"}, EngineFlag: "--model", Provider: "openai",
		Image: "aiuptime/ollama:0.17.4", ModelsInImage: true,
		GPU:               "none: the engine is the `ollama runner` process (no nvidia-smi)",
		HealthBeforeModel: true,
	})
}
