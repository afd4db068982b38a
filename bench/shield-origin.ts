// The origin of `npm run bench:shield`, a process of its own: GET /users/<id>/recs answers a small JSON body
// after 50 ms, at most 16 at once (beyond that it answers 503 at once, as an overloaded service does). It
// counts what it receives: GET /_stats answers {requests, distinct, maxInFlight, over} and resets them.
import { createServer } from 'node:http';

const port = Number(process.argv[2]);
const LATENCY_MS = Number(process.env.ORIGIN_LATENCY_MS ?? 50);
const CAP = Number(process.env.ORIGIN_CAP ?? 16);
let perKey = new Map<string, number>();
let inFlight = 0;
let maxInFlight = 0;
let over = 0;
let requests = 0;

const server = createServer((req, res) => {
  const url = req.url ?? '';
  if (url === '/_stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ requests, distinct: perKey.size, maxInFlight, over }));
    perKey = new Map();
    requests = 0;
    maxInFlight = inFlight;
    over = 0;
    return;
  }
  const m = /^\/users\/([^/?]+)\/recs$/.exec(url);
  if (!m) {
    res.writeHead(404).end();
    return;
  }
  requests++;
  const key = m[1] as string;
  perKey.set(key, (perKey.get(key) ?? 0) + 1);
  if (inFlight >= CAP) {
    over++;
    res.writeHead(503, { 'content-type': 'text/plain' }).end('over capacity');
    return;
  }
  inFlight++;
  maxInFlight = Math.max(maxInFlight, inFlight);
  setTimeout(() => {
    inFlight--;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ user: key, items: ['a', 'b', 'c'] }));
  }, LATENCY_MS);
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1');
