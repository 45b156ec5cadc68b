// Shared configuration of the aiuptime k6 scripts: the target, the request,
// and the thresholds derived from the seed SLOs. Everything is adjustable
// through environment variables (k6 run -e NAME=value, or the process env).
//
//   BASE_URL      OpenAI-compatible base URL, e.g. http://127.0.0.1:4000/v1 (required)
//   API_KEY       bearer key (optional; never printed)
//   MODEL         model name or gateway alias (required)
//   STREAM        "true" (default) for client.stream, "false" for client.chat
//   MAX_TOKENS    max_tokens of each request (default 16)
//   PROMPT        user message (default a short fixed prompt)
//   TIMEOUT       per-request timeout (default "30s")
//   STALL_TIMEOUT longest gap between stream events (default "10s")
//   P95_MS        p95 end-to-end latency objective in ms (default 2000)
//   ERROR_RATE    allowed fraction of failed HTTP requests (default 0.001)
//   AVAILABILITY  required fraction of good answers (default 0.999)
import { Client } from "k6/x/aiuptime";
import { check } from "k6";

export function env(name, def) {
  const v = __ENV[name];
  return v === undefined || v === "" ? def : v;
}

export function num(name, def) {
  const v = Number(env(name, def));
  if (Number.isNaN(v)) {
    throw new Error(`${name} must be a number`);
  }
  return v;
}

export function required(name) {
  const v = env(name, "");
  if (v === "") {
    throw new Error(`${name} is required`);
  }
  return v;
}

// thresholds are the seed SLOs: p95 2 s, error rate 0.1 %, availability 99.9 %.
export function thresholds() {
  return {
    aiuptime_e2e: [`p(95)<${num("P95_MS", 2000)}`],
    http_req_failed: [`rate<=${num("ERROR_RATE", 0.001)}`],
    aiuptime_up: [`rate>=${num("AVAILABILITY", 0.999)}`],
  };
}

export function newClient() {
  return new Client({
    baseURL: required("BASE_URL"),
    apiKey: env("API_KEY", ""),
    model: required("MODEL"),
    timeout: env("TIMEOUT", "30s"),
    stallTimeout: env("STALL_TIMEOUT", "10s"),
  });
}

const stream = env("STREAM", "true") !== "false";
const request = {
  messages: [{ role: "user", content: env("PROMPT", "Say hello in five words.") }],
  max_tokens: num("MAX_TOKENS", 16),
};

// ask sends one request and checks its outcome.
export function ask(client) {
  const r = stream ? client.stream(request) : client.chat(request);
  check(r, { "outcome is ok": (x) => x.outcome === "ok" });
  return r;
}
