// The baselines: raw node:http servers doing one lookup per request, nothing else. Modes:
//   raw-server.ts PORT N                          the demo bodies of ids 1..N from a Map (the warm hit path)
//   raw-server.ts PORT sqlite FILE                node:sqlite, one prepared point read (floodgate's own get SQL)
//   raw-server.ts PORT pg URL SCHEMA              `pg`, pool of 10, a named prepared statement (floodgate's get SQL)
//   raw-server.ts PORT pgpipe URL SCHEMA          `pg`, 10 clients in pipeline mode (several statements in flight on
//                                                 one connection, as postgres.js does), each call on the client with
//                                                 the fewest in flight, a named prepared statement
//   raw-server.ts PORT postgres URL SCHEMA        postgres.js, pool of 10, prepared (floodgate's get SQL)
//   raw-server.ts PORT redis URL PREFIX on|off    ioredis, one HGET of the record's body field at floodgate's key
//                                                 layout, auto-pipelining on or off. For the measurements in
//                                                 docs/design-notes.md ("Redis client settings"):
//                                                 RAW_REDIS_COMMAND_TIMEOUT=MS sets ioredis's commandTimeout,
//                                                 RAW_REDIS_HMGET=1 reads floodgate's two fields (body, meta)
//   raw-server.ts PORT refuse                     every request answered 503 with a small JSON body and Retry-After:
//                                                 the cheapest refusal, the ceiling of answering by refusing
//                                                 (bench:spike overload)
//   raw-server.ts PORT refuse-net                 the floor of refusing: a node:net server that writes one canned
//                                                 503 for every chunk it reads, no HTTP parsing at all (one request
//                                                 per chunk, as a keep-alive caller without pipelining sends them)
// Every mode answers GET /data?user_id=ID from collection "default", 200 with the body, 404 when absent.
// RAW_LISTEN_SOCKETS=N listens on N SO_REUSEPORT sockets as floodgate serve --listen-sockets does (src/http/listen.ts).
import { createServer, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { DatabaseSync } from 'node:sqlite';
import { Redis } from 'ioredis';
import pg from 'pg';
import postgres from 'postgres';
import { demoBody } from '../src/content/demo.ts';
import { listenMany } from '../src/http/listen.ts';
import { pgStatements } from '../src/store/pg-statements.ts';
import { recordKey } from '../src/tiers/redis-keys.ts';

const port = Number(process.argv[2] ?? 0);
const mode = process.argv[3] ?? '100000';
const POOL = 10;
const SQLITE_GET = 'SELECT body, content_type, version, updated_at FROM content WHERE collection = ? AND key = ?';
type Row = { body: Uint8Array; content_type: string } | undefined;

function answer(res: ServerResponse, body: Uint8Array | null | undefined, type = 'text/plain; charset=utf-8'): void {
  if (body === undefined || body === null) {
    res.writeHead(404);
    res.end();
    return;
  }
  res.writeHead(200, { 'Content-Type': type, 'Content-Length': body.length });
  res.end(body);
}

function idOf(url: string): string | undefined {
  const q = url.indexOf('user_id=');
  return q === -1 ? undefined : url.slice(q + 8);
}

function failed(res: ServerResponse, err: unknown): void {
  res.writeHead(500);
  res.end(String((err as Error).message));
}

/** The refusal modes' body (refuse: through node:http; refuse-net: in one canned write). */
const REFUSAL = Buffer.from('{"error":{"code":"FG_ERR_OVERLOADED","message":"The server is overloaded; retry later."}}');

let lookup: (id: string, res: ServerResponse) => void;
if (/^\d+$/.test(mode)) {
  const bodies = new Map<string, Buffer>();
  for (let id = 1; id <= Number(mode); id++) bodies.set(String(id), Buffer.from(demoBody(id)));
  lookup = (id, res) => answer(res, bodies.get(id));
} else if (mode === 'sqlite') {
  const db = new DatabaseSync(process.argv[4] ?? '', { readOnly: true });
  const get = db.prepare(SQLITE_GET);
  lookup = (id, res) => {
    const row = get.get('default', id) as Row;
    answer(res, row?.body, row?.content_type);
  };
} else if (mode === 'pg') {
  const pool = new pg.Pool({ connectionString: process.argv[4], max: POOL });
  const text = pgStatements(`"${process.argv[5] ?? ''}"`).get;
  lookup = (id, res) => {
    pool.query<{ body: Buffer; content_type: string }>({ name: 'get', text, values: ['default', id] }).then(
      (r) => answer(res, r.rows[0]?.body, r.rows[0]?.content_type),
      (err: unknown) => failed(res, err),
    );
  };
} else if (mode === 'pgpipe') {
  const clients = await Promise.all(Array.from({ length: POOL }, async () => {
    const client = new pg.Client({ connectionString: process.argv[4], pipeline: true } as pg.ClientConfig);
    await client.connect();
    return client;
  }));
  const inFlight = new Array<number>(POOL).fill(0);
  const text = pgStatements(`"${process.argv[5] ?? ''}"`).get;
  lookup = (id, res) => {
    let c = 0;
    for (let i = 1; i < POOL; i++) if ((inFlight[i] ?? 0) < (inFlight[c] ?? 0)) c = i;
    inFlight[c] = (inFlight[c] ?? 0) + 1;
    const done = (): void => void (inFlight[c] = (inFlight[c] ?? 1) - 1);
    (clients[c] as pg.Client).query<{ body: Buffer; content_type: string }>({ name: 'get', text, values: ['default', id] }).then(
      (r) => {
        done();
        answer(res, r.rows[0]?.body, r.rows[0]?.content_type);
      },
      (err: unknown) => {
        done();
        failed(res, err);
      },
    );
  };
} else if (mode === 'postgres') {
  const sql = postgres(process.argv[4] ?? '', { max: POOL, prepare: true, onnotice: () => undefined });
  const text = pgStatements(`"${process.argv[5] ?? ''}"`).get;
  lookup = (id, res) => {
    sql.unsafe<{ body: Buffer; content_type: string }[]>(text, ['default', id], { prepare: true }).then(
      (rows) => answer(res, rows[0]?.body, rows[0]?.content_type),
      (err: unknown) => failed(res, err),
    );
  };
} else if (mode === 'redis') {
  const timeout = process.env.RAW_REDIS_COMMAND_TIMEOUT;
  const client = new Redis(process.argv[4] ?? '', {
    enableAutoPipelining: process.argv[6] === 'on', lazyConnect: false, ...(timeout ? { commandTimeout: Number(timeout) } : {}),
  });
  const prefix = process.argv[5] ?? 'fg:';
  const read = process.env.RAW_REDIS_HMGET === '1'
    ? (key: string) => client.hmgetBuffer(key, 'body', 'meta').then((fields) => fields[0])
    : (key: string) => client.hgetBuffer(key, 'body');
  lookup = (id, res) => {
    read(recordKey(prefix, 'default', id)).then(
      (body) => answer(res, body),
      (err: unknown) => failed(res, err),
    );
  };
} else if (mode === 'refuse') {
  const headers = ['Content-Type', 'application/json', 'Content-Length', String(REFUSAL.length), 'Cache-Control', 'no-store', 'Retry-After', '1'];
  lookup = (_id, res) => {
    res.writeHead(503, headers);
    res.end(REFUSAL);
  };
} else if (mode !== 'refuse-net') {
  throw new Error(`raw-server.ts: unknown mode '${mode}'`);
}

const server = mode === 'refuse-net' ? refuseNet() : createServer((req, res) => {
  const id = idOf(req.url ?? '');
  if (id === undefined) answer(res, undefined);
  else lookup(id, res);
});

function refuseNet(): NetServer {
  const canned = Buffer.concat([Buffer.from(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: ${REFUSAL.length}\r\nCache-Control: no-store\r\nRetry-After: 1\r\nConnection: keep-alive\r\n\r\n`), REFUSAL]);
  return createNetServer({ noDelay: true }, (socket) => {
    socket.on('data', () => socket.write(canned));
    socket.on('error', () => socket.destroy());
  });
}
const sockets = Number(process.env.RAW_LISTEN_SOCKETS ?? 1);
if (sockets > 1) {
  await listenMany(server, { port, host: '127.0.0.1', backlog: 65_535, sockets });
  process.stdout.write('ready\n');
} else server.listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
