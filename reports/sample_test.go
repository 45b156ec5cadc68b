package reports

import "time"

// sampleSecret is planted in the sample report to test redaction.
const sampleSecret = "sk-aiuptime-TEST-0123456789abcdef"

func fptr(f float64) *float64 { return &f }
func iptr(i int64) *int64     { return &i }
func bptr(b bool) *bool       { return &b }
func tptr(t time.Time) *time.Time {
	return &t
}

// sampleReport is a deterministic, fully populated report: a GPU kill with
// a failover outage, a breached latency SLO, a broken revert, a canary, a
// restore, and an alert.
func sampleReport(secret string) *Report {
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 123456789, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	r := &Report{
		SchemaVersion: SchemaVersion,
		Plan:          "gpu-failover",
		Description:   "kill the engine of one replica under load; the gateway must fail over",
		RunID:         "run-42",
		StartedAt:     t0,
		FinishedAt:    at(60),
		Verdict:       VerdictFail,
		Availability:  Availability{RequestBased: 0.9712, TimeBased: 0.95},
		Requests:      Requests{Total: 3000, Failed: 86, ByOutcome: map[string]int64{"ok": 2914, "error": 80, "timeout": 6}},
		MTTRSeconds:   fptr(3.5),
		MTBFSeconds:   fptr(20),
		MTTRPhases:    []Phase{{"detect", 0.8}, {"failover", 1.2}, {"engine-ready", 1.5}},
		Latency:       Quantiles{P50: 0.120, P95: 2.4, P99: 4.1, Count: 3000},
		TTFT:          Quantiles{P50: 0.030, P95: 0.210, P99: 0.5, Count: 291},
		ITL:           Quantiles{P50: 0.004, P95: 0.009, P99: 0.031, Count: 4365},
		TPOT:          Quantiles{P50: 0.005, P95: 0.011, P99: 0.02, Count: 291},
		ThroughputRPS: 50,
		GoodputRPS:    47.5,
		Outages: []Outage{
			{Start: at(12), End: at(15.5), DurationSeconds: 3.5, Cause: "kill GPU process of model-0"},
			{Start: at(32), End: at(35.5), DurationSeconds: 3.5, Cause: "partition model-1"},
		},
		Steps: []Step{
			{Name: "steady state", Kind: "wait", StartedAt: at(0), FinishedAt: at(10), Status: StatusPassed},
			{Name: "kill GPU process of model-0", Kind: "fault:gpu-kill", Target: "model-0", StartedAt: at(10), FinishedAt: at(10.2), Status: StatusPassed, RecoverySeconds: fptr(3.5), Mechanism: "nvidia-smi + SIGKILL"},
			{Name: "recovered", Kind: "await", StartedAt: at(10.2), FinishedAt: at(16), Status: StatusPassed},
			{Name: "200ms latency on model-1 <b>", Kind: "fault:network-delay", Target: "model-1", StartedAt: at(20), FinishedAt: at(30), Status: StatusFailed, Error: "3 of 200 requests failed, more than 0 allowed", Mechanism: "toxiproxy latency (netem missing)"},
			{Name: "partition model-1", Kind: "fault:network-partition", Target: "model-1", StartedAt: at(30), FinishedAt: at(40), Status: StatusError, Error: "revert nftables table: auth " + secret + " rejected"},
			{Name: "final wait", Kind: "wait", Status: StatusSkipped, Error: "aborted before this step"},
		},
		SLO: []SLOResult{
			{Name: "availability", Target: 0.99, Actual: 0.9712, Op: ">=", Unit: "ratio", Compliant: false, BudgetConsumed: fptr(2.88), BurnRate: fptr(2.88)},
			{Name: "latency_p95", Target: 2, Actual: 2.4, Op: "<=", Unit: "seconds", Compliant: false},
			{Name: "recovery_time", Target: 15, Actual: 3.5, Op: "<=", Unit: "seconds", Compliant: true},
		},
		SLOPrometheus: []SLOResult{
			{Name: "availability", Target: 0.99, Actual: 0.975, Op: ">=", Unit: "ratio", Compliant: false},
		},
		Grade: Grade(0.9712),
		Services: []Service{
			{Name: "gateway", Role: "gateway", URL: "http://127.0.0.1:4000/?key=" + secret, Image: "aiuptime/gateway:dev", VersionBefore: "1.74.0", VersionAfter: "1.74.0"},
			{Name: "model-0", Role: "model", URL: "http://127.0.0.1:8001", Image: "aiuptime/modelserver:dev", VersionBefore: "0.10.1", VersionAfter: "0.10.2"},
		},
		Capabilities: Capabilities{
			Netem: false, LatencyMechanism: "toxiproxy", LossMechanism: "nftables numgen", Nftables: true,
			GPU: "nvidia-smi shim", Prometheus: true, StackKind: "containers",
			Extra: map[string]string{"tbf": "yes"},
			Notes: []string{"sch_netem is missing: latency injected by Toxiproxy between gateway and model servers"},
		},
		DR: &DR{RTOSeconds: fptr(42.5), RPOSeconds: fptr(12), RPORows: iptr(37), GoldenPromptMatch: bptr(true), BackupDir: "/var/lib/aiuptime/backups/b1",
			Phases: []Phase{{"restore copy", 8}, {"model load", 30}, {"healthy", 3}, {"first token", 1.5}}},
		Rollouts: []Rollout{{Kind: "canary", Target: "model", From: "0.10.1", To: "0.10.2-bad", FailedRequests: 12, Decision: DecisionRolledBack,
			DurationSeconds: 25, RollbackSeconds: fptr(0.8), Evidence: []string{"error rate 5.1% vs baseline 0.2% (limit 1%)"}}},
		Alerts: []Alert{
			{Name: "EngineDown", Step: "kill GPU process of model-0", FiredAt: tptr(at(14)), ResolvedAt: tptr(at(22)), DelaySeconds: fptr(4), Notified: true},
			{Name: "HighLatencyBurn", Step: "200ms latency on model-1 <b>"},
		},
		K6: &K6{Script: "load/chat.js", Metrics: map[string]map[string]float64{"http_req_duration": {"avg": 0.2, "p(95)": 0.9}},
			Thresholds: map[string]bool{"http_req_failed<0.01": false, "key " + secret: true}},
		Environment: Environment{Host: "ci-runner-1", Kernel: "6.1.0-test", OS: "linux", Arch: "amd64", CPUs: 2, GoVersion: "go1.26.8", ToolVersion: "v0.1.0"},
	}
	r.Timeline.BucketSeconds = 1
	for i := range 60 {
		b := Bucket{T: at(float64(i)), Requests: 50, Success: 1, P95: 0.15 + 0.01*float64(i%5)}
		switch {
		case i >= 12 && i < 16, i >= 32 && i < 36: // 11, 11, 11, 10 failed: 86 in all
			failed := 11 - i%4/3
			b.Success, b.P95 = float64(50-failed)/50, 3.8
		case i >= 20 && i < 30:
			b.P95 = 0.42
		}
		r.Timeline.Buckets = append(r.Timeline.Buckets, b)
	}
	r.Timeline.Faults = []FaultWindow{
		{Step: "kill GPU process of model-0", Kind: "gpu-kill", Target: "model-0", Start: at(10), End: at(10.2)},
		{Step: "200ms latency on model-1 <b>", Kind: "network-delay", Target: "model-1", Start: at(20), End: at(30)},
		{Step: "partition model-1", Kind: "network-partition", Target: "model-1", Start: at(30), End: at(40)},
	}
	r.Timeline.Events = []TimelineEvent{
		{At: at(10), Kind: "fault-injected", Step: "kill GPU process of model-0"},
		{At: at(12.8), Kind: "detected", Step: "kill GPU process of model-0"},
		{At: at(15.5), Kind: "engine-ready", Step: "kill GPU process of model-0", Detail: "token " + secret},
	}
	addComponentSample(r, at)
	r.VerdictReason = ShortfallReason(r)
	return r
}
