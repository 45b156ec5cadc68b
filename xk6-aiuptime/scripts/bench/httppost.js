// bench/httppost.js: the same requests as bench/chat.js through k6's own
// http.post, the baseline of the extension's overhead.
import http from "k6/http";

export const options = {
  scenarios: {
    bench: { executor: "shared-iterations", vus: Number(__ENV.VUS || 4), iterations: Number(__ENV.ITERATIONS || 2000), maxDuration: "120s" },
  },
};

const url = `${__ENV.BASE_URL}/chat/completions`;
const body = JSON.stringify({ model: __ENV.MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: Number(__ENV.MAX_TOKENS || 4), stream: false });
const params = { headers: { "Content-Type": "application/json", Authorization: `Bearer ${__ENV.API_KEY || ""}` } };

export default function () {
  const r = http.post(url, body, params);
  r.json(); // decode like the extension does
}
