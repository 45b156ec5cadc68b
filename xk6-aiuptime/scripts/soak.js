// soak.js: a low constant arrival rate for longer, to find leaks and drift.
// RATE (default 2) per second for DURATION (default "2m"), MAX_VUS (default 10).
// Raise DURATION for real soaks (e.g. -e DURATION=4h); it is always bounded.
import { ask, newClient, num, env, thresholds } from "./lib/config.js";

export const options = {
  scenarios: {
    soak: {
      executor: "constant-arrival-rate",
      rate: num("RATE", 2),
      timeUnit: "1s",
      duration: env("DURATION", "2m"),
      preAllocatedVUs: num("PRE_VUS", 2),
      maxVUs: num("MAX_VUS", 10),
      gracefulStop: "10s",
    },
  },
  thresholds: thresholds(),
};

const client = newClient();

export default function () {
  ask(client);
}
