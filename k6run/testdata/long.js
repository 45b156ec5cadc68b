// A script that would run for a minute: the runner's cancellation ends it.
import { sleep } from "k6";
export const options = { vus: 1, duration: "60s" };
export default function () { sleep(0.1); }
