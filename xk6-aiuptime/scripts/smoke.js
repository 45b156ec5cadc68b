// smoke.js: a handful of requests from one VU; fails fast when the endpoint
// is not serving. ITERATIONS (default 5), MAX_DURATION (default "30s").
import { ask, newClient, num, env, thresholds } from "./lib/config.js";

export const options = {
  scenarios: {
    smoke: {
      executor: "shared-iterations",
      vus: 1,
      iterations: num("ITERATIONS", 5),
      maxDuration: env("MAX_DURATION", "30s"),
    },
  },
  thresholds: thresholds(),
};

const client = newClient();

export default function () {
  ask(client);
}
