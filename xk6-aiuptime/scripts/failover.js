// failover.js: steady load while a drill injects a fault (use it as a plan's
// `load: {k6: scripts/failover.js}` under `drill run`). RATE (default 5/s)
// for DURATION (default "60s"; make it cover the plan's steps). The per-
// backend split is visible through the backend tag of every aiuptime metric;
// thresholds are the SLOs, so a failover that users felt fails the run.
import { ask, newClient, num, env, thresholds } from "./lib/config.js";

export const options = {
  scenarios: {
    failover: {
      executor: "constant-arrival-rate",
      rate: num("RATE", 5),
      timeUnit: "1s",
      duration: env("DURATION", "60s"),
      preAllocatedVUs: num("PRE_VUS", 5),
      maxVUs: num("MAX_VUS", 30),
      gracefulStop: "15s",
    },
  },
  thresholds: thresholds(),
};

const client = newClient();

export default function () {
  ask(client);
}
