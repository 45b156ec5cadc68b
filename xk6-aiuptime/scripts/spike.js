// spike.js: a base arrival rate, a sudden spike, and back. BASE_RATE (default
// 2/s), SPIKE_RATE (default 30/s), STAGE (length of each of the five stages,
// default "5s"), MAX_VUS (default 40).
import { ask, newClient, num, env, thresholds } from "./lib/config.js";

const base = num("BASE_RATE", 2);
const spike = num("SPIKE_RATE", 30);
const stage = env("STAGE", "5s");

export const options = {
  scenarios: {
    spike: {
      executor: "ramping-arrival-rate",
      startRate: base,
      timeUnit: "1s",
      preAllocatedVUs: num("PRE_VUS", 5),
      maxVUs: num("MAX_VUS", 40),
      stages: [
        { target: base, duration: stage },
        { target: spike, duration: "1s" },
        { target: spike, duration: stage },
        { target: base, duration: "1s" },
        { target: base, duration: stage },
      ],
      gracefulStop: "10s",
    },
  },
  thresholds: thresholds(),
};

const client = newClient();

export default function () {
  ask(client);
}
