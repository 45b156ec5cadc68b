// fixed.js: a fixed number of iterations (ITERATIONS, default 40) shared by
// VUS VUs (default 4), each one chat request through the xk6-aiuptime
// client to BASE_URL; self-contained (no local imports) so that one
// ConfigMap key holds it.
import { Client } from "k6/x/aiuptime";

const env = (k, d) => (__ENV[k] === undefined || __ENV[k] === "" ? d : __ENV[k]);

export const options = {
  scenarios: {
    fixed: {
      executor: "shared-iterations",
      vus: Number(env("VUS", 4)),
      iterations: Number(env("ITERATIONS", 40)),
      maxDuration: "60s",
    },
  },
  thresholds: { aiuptime_up: ["rate>=0.99"] },
};

const client = new Client({
  baseURL: env("BASE_URL", ""),
  apiKey: env("API_KEY", ""),
  model: env("MODEL", ""),
  timeout: "10s",
});

export default function () {
  client.stream({ messages: [{ role: "user", content: "hi" }], max_tokens: 4 });
}
