// The baseline: a raw node:http server answering the same demo bodies from a Map. Nothing else.
import { createServer } from 'node:http';
import { demoBody } from '../src/content/demo.ts';

const port = Number(process.argv[2] ?? 0);
const n = Number(process.argv[3] ?? 100_000);
const bodies = new Map<string, Buffer>();
for (let id = 1; id <= n; id++) bodies.set(String(id), Buffer.from(demoBody(id)));

createServer((req, res) => {
  const url = req.url ?? '';
  const q = url.indexOf('user_id=');
  const body = q === -1 ? undefined : bodies.get(url.slice(q + 8));
  if (body === undefined) {
    res.writeHead(404);
    res.end();
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length });
  res.end(body);
}).listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
