// deploy/: the Procfile, the Dockerfile, the Kubernetes manifests and the nginx front, parsed. Every probe path
// is a route a real server answers 200 on, every environment name is an option (src/config.ts OPTIONS), the
// ports agree, the grace period covers the pause and the drain, and the memory tiers fit the memory limit.
// No Docker engine runs here, so the image is parsed, not built; nginx's own `nginx -t` checks its file.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { loadConfig, OPTIONS } from '../../src/config.ts';
import { startTestApp } from '../support/app.ts';

const DEPLOY = new URL('../../deploy/', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, DEPLOY), 'utf8');
const ENV_NAMES = new Set<string>(Object.values(OPTIONS).map((o) => o.env));
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));

type Doc = { kind: string; metadata: { name: string; labels?: Record<string, string> }; spec?: Record<string, unknown>; data?: Record<string, string>; stringData?: Record<string, string> };
const manifests: Doc[] = readdirSync(new URL('kubernetes/', DEPLOY)).filter((f) => f.endsWith('.yaml')).flatMap((f) =>
  parseAllDocuments(read(`kubernetes/${f}`)).map((d) => {
    assert.deepEqual(d.errors, [], f);
    return d.toJS() as Doc;
  }),
);
const one = (kind: string): Doc => {
  const found = manifests.filter((m) => m.kind === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0] as Doc;
};

interface Container {
  args?: string[];
  ports: { name: string; containerPort: number }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  env?: { name: string }[];
  resources: { limits: { memory: string; cpu: string } };
  readinessProbe: { httpGet: { path: string; port: string | number } };
  livenessProbe: { httpGet: { path: string; port: string | number } };
  startupProbe?: { httpGet: { path: string; port: string | number } };
  lifecycle: { preStop: { exec: { command: string[] } } };
}
const deployment = one('Deployment');
const pod = (deployment.spec as { template: { metadata: { labels: Record<string, string> }; spec: { terminationGracePeriodSeconds: number; containers: Container[] } } }).template;
const container = pod.spec.containers[0] as Container;
const config = one('ConfigMap').data ?? {};
const secret = one('Secret').stringData ?? {};

/** The configuration the pod runs with: the ConfigMap and the Secret as its environment, its args as flags. */
function podConfig() {
  return loadConfig((container.args ?? []).slice(1), { ...config, ...secret }).config;
}

const bytes = (q: string): number => {
  const m = /^(\d+)(Ki|Mi|Gi)?$/.exec(q);
  assert.ok(m, q);
  const unit: Record<string, number> = { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };
  return Number(m[1]) * (unit[m[2] ?? ''] ?? 1);
};

test('every environment name in the manifests is a floodgate option, and the pod\'s configuration loads', () => {
  const names = [...Object.keys(config), ...Object.keys(secret), ...(container.env ?? []).map((e) => e.name)];
  assert.ok(names.length > 5);
  for (const n of names) assert.ok(ENV_NAMES.has(n), `${n} is not an option (src/config.ts OPTIONS)`);
  for (const n of ['DATABASE_URL', 'FLOODGATE_LISTEN_DATABASE_URL', 'FLOODGATE_ADMIN_TOKEN', 'FLOODGATE_READ_TOKEN', 'REDIS_URL']) {
    assert.ok(n in secret, `${n} comes from the Secret`);
    assert.ok(!(n in config), `${n} is not in the ConfigMap`);
  }
  assert.deepEqual(container.envFrom?.map((e) => e.configMapRef?.name ?? e.secretRef?.name), [one('ConfigMap').metadata.name, one('Secret').metadata.name]);
  assert.equal(container.args?.[0], 'serve');
  podConfig();
});

test('probe paths are real routes: a server answers 200 on each', async () => {
  await using app = await startTestApp({ env: { FLOODGATE_SEED: '10' } });
  const paths = [container.readinessProbe, container.livenessProbe, container.startupProbe].filter((p) => p !== undefined).map((p) => p.httpGet.path);
  assert.ok(paths.includes('/readyz') && paths.includes('/healthz'));
  assert.equal(container.readinessProbe.httpGet.path, '/readyz');
  assert.equal(container.livenessProbe.httpGet.path, '/healthz');
  const docker = read('Dockerfile');
  const health = /HEALTHCHECK[^\n]*\\\n[^\n]*?(\/\w+)'/.exec(docker)?.[1];
  assert.equal(health, '/healthz');
  for (const p of [...paths, health]) assert.equal((await fetch(`${app.url}${p}`)).status, 200, p);
});

test('the ports agree: the pod, its probes, the Service, the Dockerfile, the ConfigMap\'s PORT, the Procfile', () => {
  const port = podConfig().port;
  const http = container.ports.find((p) => p.name === 'http');
  assert.equal(http?.containerPort, port);
  for (const probe of [container.readinessProbe, container.livenessProbe]) assert.ok(probe.httpGet.port === 'http' || probe.httpGet.port === port);
  const service = one('Service').spec as { selector: Record<string, string>; ports: { targetPort: string | number }[] };
  assert.ok(service.ports.every((p) => p.targetPort === 'http' || p.targetPort === port));
  const docker = read('Dockerfile');
  assert.equal(Number(/^EXPOSE (\d+)$/m.exec(docker)?.[1]), port);
  assert.equal(Number(/PORT=(\d+)/.exec(docker)?.[1]), port);
  const ann = (deployment.spec as { template: { metadata: { annotations?: Record<string, string> } } }).template.metadata.annotations ?? {};
  assert.equal(Number(ann['prometheus.io/port']), port);
  assert.equal(ann['prometheus.io/path'], '/metrics');
  const nginx = read('nginx/floodgate.conf');
  for (const m of nginx.matchAll(/^\s*server\s+[\w.-]+:(\d+)/gm)) assert.equal(Number(m[1]), port, 'nginx upstream port');
});

test('selectors match the pod, the HPA scales the Deployment on CPU, the PDB keeps one pod', () => {
  const labels = pod.metadata.labels;
  const matches = (sel: Record<string, string>): boolean => Object.entries(sel).every(([k, v]) => labels[k] === v);
  assert.ok(matches((deployment.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels));
  assert.ok(matches((one('Service').spec as { selector: Record<string, string> }).selector));
  const pdb = one('PodDisruptionBudget').spec as { minAvailable: number; selector: { matchLabels: Record<string, string> } };
  assert.ok(matches(pdb.selector.matchLabels));
  assert.ok(pdb.minAvailable >= 1);
  const hpa = one('HorizontalPodAutoscaler').spec as { scaleTargetRef: { kind: string; name: string }; minReplicas: number; metrics: { resource: { name: string } }[] };
  assert.deepEqual([hpa.scaleTargetRef.kind, hpa.scaleTargetRef.name], ['Deployment', deployment.metadata.name]);
  assert.ok(hpa.metrics.some((m) => m.resource.name === 'cpu'));
  assert.ok(hpa.minReplicas > pdb.minAvailable, 'a drain can always evict one pod');
});

test('termination: the grace period covers the preStop pause and --shutdown-timeout; workers and memory tiers fit the limits', () => {
  const cfg = podConfig();
  const [cmd, seconds] = container.lifecycle.preStop.exec.command;
  assert.equal(cmd, 'sleep');
  const pause = Number(seconds);
  assert.ok(pause >= 2, 'the balancer gets a moment to stop sending');
  assert.ok(pod.spec.terminationGracePeriodSeconds > pause + cfg.shutdownTimeout / 1000, `${pod.spec.terminationGracePeriodSeconds} s > ${pause} s + ${cfg.shutdownTimeout / 1000} s`);
  const limit = bytes(container.resources.limits.memory);
  assert.ok(cfg.cacheBytes * cfg.workers <= 0.5 * limit, `${cfg.workers} memory tiers of ${cfg.cacheBytes} B fit half of the ${limit} B limit`);
  assert.ok(cfg.cacheBytes > 0);
  assert.equal(cfg.workers, Number(container.resources.limits.cpu), 'one worker per CPU of the limit');
});

test('the Dockerfile: multi-stage on Node 24, npm ci --omit=dev, non-root, exec-form entrypoint (SIGTERM reaches floodgate)', () => {
  const docker = read('Dockerfile');
  const froms = [...docker.matchAll(/^FROM (\S+)/gm)].map((m) => m[1] as string);
  assert.ok(froms.length >= 2, 'multi-stage');
  for (const f of froms) assert.match(f, /^node:24\b/);
  assert.match(docker, /^RUN npm ci --omit=dev/m);
  assert.match(docker, /^COPY --from=deps /m);
  const user = /^USER (\S+)$/m.exec(docker)?.[1];
  assert.ok(user !== undefined && user !== 'root' && user !== '0', 'runs as a non-root user');
  const entry = /^ENTRYPOINT (.+)$/m.exec(docker)?.[1] ?? '';
  assert.deepEqual(JSON.parse(entry), ['node', 'bin/floodgate.js'], 'exec form: no shell between the runtime and node');
  assert.deepEqual(JSON.parse(/^CMD (.+)$/m.exec(docker)?.[1] ?? ''), ['serve']);
  assert.match(/HEALTHCHECK[\s\S]*?CMD (\[.*\])/.exec(docker)?.[1] ?? '', /^\["node"/, 'the healthcheck is exec form too');
  for (const path of [...docker.matchAll(/^COPY (?!--from)(\S+)/gm)].map((m) => m[1] as string)) assert.ok(existsSync(new URL(`../../${path}`, import.meta.url)), `${path} exists`);
});

test('the Procfile: web serves on $PORT, release migrates', () => {
  const lines = Object.fromEntries(read('Procfile').trim().split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));
  assert.match(lines.web ?? '', /^node bin\/floodgate\.js serve --port \$PORT$/);
  assert.equal(lines.release, 'node bin/floodgate.js migrate');
  const help = spawnSync(process.execPath, ['bin/floodgate.js', 'migrate', '--help'], { cwd: new URL('../..', import.meta.url), encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
});

test('the nginx front: TLS, least_conn, keep-alive upstreams, idempotent retries; `nginx -t` accepts it', { skip: NGINX === undefined && !process.env.CI ? 'nginx is not installed (.ci/run installs it)' : false }, () => {
  const conf = read('nginx/floodgate.conf');
  for (const d of [/least_conn;/, /keepalive \d+;/, /proxy_http_version 1\.1;/, /proxy_set_header Connection "";/, /proxy_next_upstream error timeout;/, /listen 443 ssl/, /ssl_certificate /, /proxy_buffering off;/]) assert.match(conf, d);
  assert.doesNotMatch(conf, /non_idempotent/, 'a write is never sent twice');
  assert.ok(NGINX, 'nginx is installed');
  const dir = mkdtempSync(join(tmpdir(), 'fg-nginx-t-'));
  try {
    const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { encoding: 'utf8' });
    assert.equal(gen.status, 0, gen.stderr);
    const local = conf.replaceAll('/etc/nginx/tls/floodgate.crt', join(dir, 'c.pem')).replaceAll('/etc/nginx/tls/floodgate.key', join(dir, 'k.pem')).replace(/listen 80;/, 'listen 127.0.0.1:1;').replace(/listen 443 ssl/, 'listen 127.0.0.1:2 ssl');
    writeFileSync(join(dir, 'nginx.conf'), `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp {\n  access_log off;\n${local}\n}\n`);
    const t = spawnSync(NGINX, ['-t', '-p', dir, '-c', join(dir, 'nginx.conf')], { encoding: 'utf8' });
    assert.equal(t.status, 0, t.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
