package containers

import (
	"fmt"

	"github.com/goccy/go-yaml"
)

// gatewayConfig is the gateway's configuration in LiteLLM's format.
type gatewayConfig struct {
	ModelList       []gwModel `yaml:"model_list"`
	RouterSettings  gwRouter  `yaml:"router_settings"`
	GeneralSettings gwGeneral `yaml:"general_settings"`
}

type gwModel struct {
	ModelName     string      `yaml:"model_name"`
	LiteLLMParams gwParams    `yaml:"litellm_params"`
	ModelInfo     gwModelInfo `yaml:"model_info"`
}

type gwParams struct {
	Model   string `yaml:"model"`
	APIBase string `yaml:"api_base"`
	APIKey  string `yaml:"api_key,omitempty"`
	Weight  int    `yaml:"weight,omitempty"`
}

type gwModelInfo struct {
	ID string `yaml:"id"`
}

type gwRouter struct {
	RoutingStrategy string `yaml:"routing_strategy"`
	NumRetries      int    `yaml:"num_retries"`
	AllowedFails    int    `yaml:"allowed_fails"`
	CooldownTime    int    `yaml:"cooldown_time"`
	Timeout         int    `yaml:"timeout"`
	StreamTimeout   int    `yaml:"stream_timeout"`
}

type gwGeneral struct {
	MasterKey    string `yaml:"master_key"`
	DatabasePath string `yaml:"database_path"`
}

// Gateway defaults written into the generated config.
const (
	gatewayDataMount = "/data"
	gatewayDBPath    = gatewayDataMount + "/gateway.db"
)

// deployment is one model server as the gateway reaches it.
type deployment struct {
	id      string // model_info.id, the service name
	apiBase string // http://host:port/v1 on the stack network
}

// renderGatewayConfig writes the LiteLLM-format config for the deployments.
func renderGatewayConfig(modelName, masterKey, modelAPIKey string, deps []deployment) ([]byte, error) {
	key := modelAPIKey
	if key == "" {
		key = "none" // LiteLLM wants one; the model servers do not check it
	}
	cfg := gatewayConfig{
		RouterSettings: gwRouter{
			RoutingStrategy: "simple-shuffle",
			NumRetries:      2,
			AllowedFails:    3,
			CooldownTime:    5,
			// A gateway must give up on a deployment before its clients
			// give up on the gateway, or a partitioned replica (packets
			// silently dropped) turns every request routed to it into a
			// client timeout instead of a retry on a healthy replica.
			// LiteLLM's default is 600 s; the embedded stack's answers take
			// well under a second, and probes wait 5 s, so 3 s. Set yours
			// below your clients' deadline for the same reason.
			Timeout:       3,
			StreamTimeout: 2,
		},
		GeneralSettings: gwGeneral{MasterKey: masterKey, DatabasePath: gatewayDBPath},
	}
	for _, d := range deps {
		cfg.ModelList = append(cfg.ModelList, gwModel{
			ModelName:     modelName,
			LiteLLMParams: gwParams{Model: "hosted_vllm/" + modelName, APIBase: d.apiBase, APIKey: key, Weight: 1},
			ModelInfo:     gwModelInfo{ID: d.id},
		})
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("render gateway config: %w", err)
	}
	return b, nil
}
