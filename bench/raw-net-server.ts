// raw-net-server.ts PORT N: the demo bodies of ids 1..N from a Map, answered by a minimal HTTP/1.1 GET responder
// on node:net, without node:http: the request line is cut out of the bytes, the answer is one corked write. Not a
// server anyone should run (no limits, no timeouts, no validation): the ceiling that a leaner HTTP layer could
// reach, beside raw-server.ts's node:http + Map (bench:serve's third row; docs/design-notes.md, "What node:http
// costs a read").
import { createServer, type Socket } from 'node:net';
import { demoBody } from '../src/content/demo.ts';

const port = Number(process.argv[2] ?? 0);
const bodies = new Map<string, Buffer>();
for (let id = 1; id <= Number(process.argv[3] ?? 100_000); id++) bodies.set(String(id), Buffer.from(demoBody(id)));
let date = new Date().toUTCString();
setInterval(() => void (date = new Date().toUTCString()), 1000).unref();
const NOT_FOUND = 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n';

const server = createServer({ noDelay: true }, (socket: Socket) => {
  let pending = '';
  socket.setEncoding('latin1');
  socket.on('error', () => undefined);
  socket.on('data', (chunk: string) => {
    pending += chunk;
    for (let end = pending.indexOf('\r\n\r\n'); end !== -1; end = pending.indexOf('\r\n\r\n')) {
      const line = pending.slice(0, pending.indexOf('\r\n'));
      pending = pending.slice(end + 4);
      const q = line.indexOf('user_id=');
      const body = q === -1 ? undefined : bodies.get(line.slice(q + 8, line.indexOf(' ', q)));
      if (body === undefined) {
        socket.write(NOT_FOUND);
        continue;
      }
      socket.cork();
      socket.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nDate: ${date}\r\nConnection: keep-alive\r\n\r\n`, 'latin1');
      socket.write(body);
      socket.uncork();
    }
  });
});
server.listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
