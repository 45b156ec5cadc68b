// Package gwconfig renders the gateway fixture's configuration in
// LiteLLM's format (fixtures/gateway/README.md): one deployment per model
// server, with the router settings every stack of the project uses. The
// embedded stack (stack/containers) and the Kubernetes deployment
// (kube/deploy) both write it with Render.
package gwconfig

import (
	"fmt"

	"github.com/goccy/go-yaml"
)

type config struct {
	ModelList       []model `yaml:"model_list"`
	RouterSettings  router  `yaml:"router_settings"`
	GeneralSettings general `yaml:"general_settings"`
}

type model struct {
	ModelName     string    `yaml:"model_name"`
	LiteLLMParams params    `yaml:"litellm_params"`
	ModelInfo     modelInfo `yaml:"model_info"`
}

type params struct {
	Model   string `yaml:"model"`
	APIBase string `yaml:"api_base"`
	APIKey  string `yaml:"api_key,omitempty"`
	Weight  int    `yaml:"weight,omitempty"`
}

type modelInfo struct {
	ID string `yaml:"id"`
}

type router struct {
	RoutingStrategy string `yaml:"routing_strategy"`
	NumRetries      int    `yaml:"num_retries"`
	AllowedFails    int    `yaml:"allowed_fails"`
	CooldownTime    int    `yaml:"cooldown_time"`
	Timeout         int    `yaml:"timeout"`
	StreamTimeout   int    `yaml:"stream_timeout"`
}

type general struct {
	MasterKey    string `yaml:"master_key"`
	DatabasePath string `yaml:"database_path"`
}

// Upstream is one model server as the gateway reaches it.
type Upstream struct {
	// ID is model_info.id: the stack's service name (model-0, ...).
	ID string
	// APIBase is its OpenAI base URL as the gateway reaches it
	// (http://host:port/v1).
	APIBase string
	// Model is the name the server serves ("": the gateway's model
	// name) and Provider its LiteLLM provider prefix ("": hosted_vllm).
	Model, Provider string
}

// Render writes the config serving modelName from ups. masterKey is the
// gateway's key or an os.environ/NAME reference; modelAPIKey the key the
// model servers want ("": "none", since LiteLLM wants one); dbPath the
// gateway's database file.
func Render(modelName, masterKey, modelAPIKey, dbPath string, ups []Upstream) ([]byte, error) {
	key := modelAPIKey
	if key == "" {
		key = "none"
	}
	cfg := config{
		RouterSettings: router{
			RoutingStrategy: "simple-shuffle",
			NumRetries:      2,
			AllowedFails:    3,
			CooldownTime:    5,
			// A gateway must give up on a deployment before its clients
			// give up on the gateway, or a partitioned replica (packets
			// silently dropped) turns every request routed to it into a
			// client timeout instead of a retry on a healthy replica.
			// LiteLLM's default is 600 s; the fixtures answer well under a
			// second, and probes wait 5 s, so 3 s. Set yours below your
			// clients' deadline for the same reason.
			Timeout:       3,
			StreamTimeout: 2,
		},
		GeneralSettings: general{MasterKey: masterKey, DatabasePath: dbPath},
	}
	for _, u := range ups {
		cfg.ModelList = append(cfg.ModelList, model{
			ModelName:     modelName,
			LiteLLMParams: params{Model: u.litellmModel(modelName), APIBase: u.APIBase, APIKey: key, Weight: 1},
			ModelInfo:     modelInfo{ID: u.ID},
		})
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("render gateway config: %w", err)
	}
	return b, nil
}

// litellmModel is litellm_params.model: provider/served-name.
func (u Upstream) litellmModel(modelName string) string {
	m, p := u.Model, u.Provider
	if m == "" {
		m = modelName
	}
	if p == "" {
		p = "hosted_vllm"
	}
	return p + "/" + m
}
