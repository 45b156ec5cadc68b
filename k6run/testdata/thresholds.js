// A k6 script without network traffic: custom metrics with one passing and
// one failing threshold, so the runner's parsing and exit handling are tested
// against real k6 output.
import { Trend, Rate } from "k6/metrics";

const lat = new Trend("fake_latency", true);
const up = new Rate("fake_up");

export const options = {
  iterations: Number(__ENV.ITERATIONS || 20),
  vus: 1,
  thresholds: {
    fake_latency: ["p(95)<1000"],
    fake_up: ["rate>0.99"],
  },
};

export default function () {
  lat.add(__ITER);
  up.add(__ITER % 2 === 0);
}
