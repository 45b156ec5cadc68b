// load.js: a constant arrival rate (open model: latency does not slow the
// offered load). RATE per second (default 10) for DURATION (default "20s"),
// with PRE_VUS (default 5) up to MAX_VUS (default 20) VUs.
import { ask, newClient, num, env, thresholds } from "./lib/config.js";

export const options = {
  scenarios: {
    load: {
      executor: "constant-arrival-rate",
      rate: num("RATE", 10),
      timeUnit: "1s",
      duration: env("DURATION", "20s"),
      preAllocatedVUs: num("PRE_VUS", 5),
      maxVUs: num("MAX_VUS", 20),
      gracefulStop: "10s",
    },
  },
  thresholds: thresholds(),
};

const client = newClient();

export default function () {
  ask(client);
}
