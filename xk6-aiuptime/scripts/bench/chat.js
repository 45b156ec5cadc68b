// bench/chat.js: ITERATIONS (default 2000) non-streaming requests through the
// extension's client.chat from VUS (default 4) VUs, as fast as possible.
import { Client } from "k6/x/aiuptime";

export const options = {
  scenarios: {
    bench: { executor: "shared-iterations", vus: Number(__ENV.VUS || 4), iterations: Number(__ENV.ITERATIONS || 2000), maxDuration: "120s" },
  },
};

const client = new Client({ baseURL: __ENV.BASE_URL, apiKey: __ENV.API_KEY || "", model: __ENV.MODEL });
const req = { messages: [{ role: "user", content: "hi" }], max_tokens: Number(__ENV.MAX_TOKENS || 4) };

export default function () {
  client.chat(req);
}
