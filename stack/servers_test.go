package stack

import "testing"

func TestServerIsEngine(t *testing.T) {
	ollama, ok := LookupServer(ServerOllama)
	if !ok {
		t.Fatal("ollama is not registered")
	}
	vllm, _ := LookupServer("")
	for _, tc := range []struct {
		srv     Server
		cmdline string
		want    bool
	}{
		{ollama, "/usr/bin/ollama runner --model /models/blobs/sha256-b6d2b53f --port 34715", true},
		{ollama, "/usr/bin/ollama runner --ollama-engine --model /models/blobs/sha256-ab --port 40123", true},
		{ollama, "ollama runner --model=x", true},
		// The GPU discovery child Ollama starts at boot serves nothing.
		{ollama, "/usr/bin/ollama runner --ollama-engine --port 40123", false},
		{ollama, "/usr/bin/ollama serve", false},
		{ollama, "/usr/bin/ollama", false},
		{ollama, "/opt/notollama runner", false},
		{ollama, "/usr/bin/ollama-runner runner", false},
		{ollama, "", false},
		// vLLM's engine is what nvidia-smi lists: no command line matches.
		{vllm, "/aiuptime-modelserver serve", false},
	} {
		if got := tc.srv.IsEngine(tc.cmdline); got != tc.want {
			t.Errorf("%s.IsEngine(%q) = %v, want %v", tc.srv.Name, tc.cmdline, got, tc.want)
		}
	}
}

func TestServerOf(t *testing.T) {
	for _, tc := range []struct {
		server, wantName, wantVersion string
		wantPort                      int
	}{
		{"", ServerVLLM, "/version", 8000},
		{ServerOllama, ServerOllama, "/api/version", 11434},
		{"unknown", ServerVLLM, "/version", 8000},
	} {
		s := ServerOf(Service{Server: tc.server})
		if s.Name != tc.wantName || s.VersionPath != tc.wantVersion || s.Port != tc.wantPort {
			t.Errorf("ServerOf(%q) = %s %s %d, want %s %s %d", tc.server, s.Name, s.VersionPath, s.Port, tc.wantName, tc.wantVersion, tc.wantPort)
		}
	}
}

func TestRegisterServerRefusesDuplicatesAndGaps(t *testing.T) {
	for name, s := range map[string]Server{
		"duplicate":  {Name: ServerOllama, Port: 1, HealthPath: "/h", VersionPath: "/v", VersionField: "v", ModelsMount: "/m", Provider: "p"},
		"no port":    {Name: "x", HealthPath: "/h", VersionPath: "/v", VersionField: "v", ModelsMount: "/m", Provider: "p"},
		"bad health": {Name: "x", Port: 1, HealthPath: "h", VersionPath: "/v", VersionField: "v", ModelsMount: "/m", Provider: "p"},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("want a panic")
				}
			}()
			RegisterServer(s)
		})
	}
}
