// Prints its secrets and requests a URL holding them, so that tests can
// check that nothing k6 writes reaches the harness's outputs unmasked.
import http from 'k6/http';

export const options = {
  iterations: 1,
  thresholds: { [`http_req_duration{url:${__ENV.BASE_URL}}`]: ['max>=0'] },
};

export default function () {
  console.log(`key is ${__ENV.API_KEY} base ${__ENV.BASE_URL}`);
  console.error(`Authorization: Bearer ${__ENV.API_KEY}`);
  http.get(__ENV.BASE_URL, { timeout: '1s', headers: { Authorization: `Bearer ${__ENV.API_KEY}` } });
}
