// floodgate's live dashboard: reads one frame a second from /dashboard/events (Server-Sent Events) while the
// tab is visible, keeps the last five minutes, and draws every chart on a canvas by hand. No library, no
// request to anywhere but this server. The frame's fields are described in src/http/dashboard-frame.ts.
'use strict';

const WINDOW_MS = 5 * 60 * 1000;
const frames = [];
const C = { ok: '#3fb950', warn: '#d29922', bad: '#f85149', blue: '#58a6ff', violet: '#bc8cff', teal: '#39c5cf', muted: '#8a93a5', grid: '#262c38', text: '#e3e7ee', orange: '#f0883e', pink: '#db61a2' };
const MiB = 1024 * 1024;

const $ = (id) => document.getElementById(id);
const fmt = (n, digits = 0) => (n === null || n === undefined || Number.isNaN(n) ? '–' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const fmtMs = (ms) => (ms === null || ms === undefined ? '–' : ms < 1 ? `${fmt(ms * 1000, 0)} µs` : ms < 10 ? `${fmt(ms, 2)} ms` : `${fmt(ms, 0)} ms`);
const pct = (r) => (r === null || r === undefined ? '–' : `${fmt(r * 100, r >= 0.995 || r < 0.1 ? 0 : 1)}%`);
const mib = (b) => `${fmt(b / MiB, 0)} MiB`;

/** A chart: series of { name, color, value(frame), dash?, stack? } over the frames' time window. */
function chart(id, series, opts = {}) {
  const fig = $(id);
  const canvas = fig.querySelector('canvas');
  const legend = fig.querySelector('.legend');
  legend.replaceChildren(...series.map((s) => {
    const span = document.createElement('span');
    const swatch = document.createElement('i');
    swatch.style.background = s.color;
    const value = document.createElement('b');
    span.append(swatch, s.name, value);
    s.legendValue = value;
    return span;
  }));
  return { fig, canvas, series, opts };
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 4, 6, 8, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function draw(c, now) {
  const { canvas, series, opts } = c;
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const left = 44;
  const right = 6;
  const top = 6;
  const bottom = 18;
  const pw = w - left - right;
  const ph = h - top - bottom;
  const t0 = now - WINDOW_MS;
  const visible = frames.filter((f) => f.t >= t0);
  // Values per series (stacked series add up in order).
  const values = series.map(() => []);
  let max = opts.min ?? 0;
  for (const f of visible) {
    let acc = 0;
    series.forEach((s, i) => {
      let v = s.value(f);
      if (v === null || v === undefined || Number.isNaN(v)) {
        values[i].push(null);
        return;
      }
      if (s.stack) {
        acc += v;
        v = acc;
      }
      values[i].push(v);
      if (!s.noScale || opts.fixedMax === undefined) max = Math.max(max, v);
    });
  }
  const ymax = opts.fixedMax ?? niceMax(max * 1.1);
  const x = (t) => left + ((t - t0) / WINDOW_MS) * pw;
  const y = (v) => top + ph - (Math.min(v, ymax) / ymax) * ph;
  // Grid and axes.
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = C.muted;
  ctx.strokeStyle = C.grid;
  ctx.lineWidth = 1;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (let i = 0; i <= 4; i++) {
    const v = (ymax * i) / 4;
    const yy = Math.round(y(v)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(left, yy);
    ctx.lineTo(w - right, yy);
    ctx.stroke();
    ctx.fillText(opts.tick ? opts.tick(v) : fmt(v, v < 10 && v !== 0 ? 1 : 0), left - 6, yy);
  }
  ctx.textAlign = 'center';
  ctx.textBaseline = 'alphabetic';
  for (let m = 0; m <= 5; m++) {
    const t = t0 + m * 60000;
    ctx.fillText(m === 5 ? 'now' : `-${5 - m}m`, Math.min(Math.max(x(t), left + 10), w - right - 12), h - 4);
  }
  // Series: stacked ones as filled bands (drawn top first), the others as lines.
  let drawn = 0;
  for (let i = series.length - 1; i >= 0; i--) {
    const s = series[i];
    const pts = values[i];
    ctx.beginPath();
    let open = false;
    let firstX = 0;
    let lastX = 0;
    visible.forEach((f, k) => {
      const v = pts[k];
      if (v === null) {
        if (open && s.stack) {
          ctx.lineTo(lastX, y(0));
          ctx.lineTo(firstX, y(0));
        }
        open = false;
        return;
      }
      const xx = x(f.t);
      if (!open) {
        ctx.moveTo(xx, y(v));
        firstX = xx;
        open = true;
      } else ctx.lineTo(xx, y(v));
      lastX = xx;
      drawn++;
    });
    if (s.stack) {
      if (open) {
        ctx.lineTo(lastX, y(0));
        ctx.lineTo(firstX, y(0));
      }
      ctx.closePath();
      ctx.fillStyle = s.color;
      ctx.globalAlpha = 0.85;
      ctx.fill();
      ctx.globalAlpha = 1;
    } else {
      ctx.strokeStyle = s.color;
      ctx.lineWidth = s.width ?? 1.6;
      ctx.setLineDash(s.dash ? [5, 4] : []);
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }
  c.fig.dataset.drawn = String(drawn);
  const last = visible.at(-1);
  for (const s of series) s.legendValue.textContent = last ? (s.show ?? ((v) => fmt(v, 1)))(s.value(last)) : '';
}

const charts = [
  chart('chart-rps', [
    { name: '2xx', color: C.ok, stack: true, value: (f) => f.rps['2xx'], show: (v) => fmt(v) },
    { name: '3xx', color: C.blue, stack: true, value: (f) => f.rps['3xx'], show: (v) => fmt(v) },
    { name: '4xx', color: C.warn, stack: true, value: (f) => f.rps['4xx'], show: (v) => fmt(v) },
    { name: '5xx', color: C.bad, stack: true, value: (f) => f.rps['5xx'], show: (v) => fmt(v) },
  ]),
  chart('chart-latency', [
    { name: 'p50', color: C.blue, value: (f) => f.p50Ms, show: fmtMs },
    { name: 'p99', color: C.orange, value: (f) => f.p99Ms, show: fmtMs },
  ], { tick: (v) => (v === 0 ? '0' : v < 1 ? fmt(v, 2) : fmt(v, 0)) }),
  chart('chart-hits', [
    { name: 'memory', color: C.teal, value: (f) => (f.memoryHitRatio === null ? null : f.memoryHitRatio * 100), show: (v) => (v === null ? '–' : `${fmt(v, 1)} %`) },
    { name: 'Redis', color: C.bad, value: (f) => (f.redisHitRatio === null ? null : f.redisHitRatio * 100), show: (v) => (v === null ? '–' : `${fmt(v, 1)} %`) },
  ], { fixedMax: 100 }),
  chart('chart-degraded', [
    { name: 'stale', color: C.warn, stack: true, value: (f) => kind(f, 'stale'), show: (v) => fmt(v) },
    { name: 'fallback', color: C.violet, stack: true, value: (f) => kind(f, 'fallback'), show: (v) => fmt(v) },
    { name: 'refused (503)', color: C.bad, stack: true, value: (f) => kind(f, 'refused'), show: (v) => fmt(v) },
  ]),
  chart('chart-loop', [
    { name: 'delay ms', color: C.orange, value: (f) => f.eventLoopDelayMs, show: fmtMs },
    { name: 'utilisation %', color: C.blue, value: (f) => (f.utilization === null ? null : f.utilization * 100), show: (v) => (v === null ? '–' : `${fmt(v, 0)} %`) },
  ]),
  // As a share of each watermark (misses are answered degraded above 100 %); the legend says the bytes.
  chart('chart-memory', [
    { name: 'RSS', color: C.teal, value: (f) => share(f.rss, f.rssMax), show: () => bytesOf(frames.at(-1), 'rss') },
    { name: 'heap', color: C.violet, value: (f) => share(f.heap, f.heapMax), show: () => bytesOf(frames.at(-1), 'heap') },
    { name: 'watermark', color: C.bad, dash: true, width: 1, value: () => 100, show: () => '' },
  ], { fixedMax: 120, tick: (v) => `${fmt(v)}%` }),
  chart('chart-pool', [
    { name: 'busy', color: C.blue, value: (f) => (f.pool ? f.pool.busy : null), show: (v) => fmt(v) },
    { name: 'waiting', color: C.bad, value: (f) => (f.pool ? f.pool.waiting : null), show: (v) => fmt(v) },
    { name: 'size', color: C.muted, dash: true, width: 1, value: (f) => (f.pool ? f.pool.size : null), show: (v) => fmt(v) },
  ]),
  chart('chart-conns', [
    { name: 'connections', color: C.teal, value: (f) => f.connections, show: (v) => fmt(v) },
    { name: 'in flight', color: C.pink, value: (f) => f.inFlight, show: (v) => fmt(v) },
  ]),
];

function share(used, max) {
  return max > 0 ? (used / max) * 100 : null;
}

function bytesOf(f, what) {
  return f ? `${mib(f[what])} of ${mib(f[`${what}Max`])}` : '';
}

function kind(f, answer) {
  let n = 0;
  for (const [k, v] of Object.entries(f.degraded)) if (k.startsWith(`${answer} `)) n += v;
  return n;
}

function totalRps(f) {
  return f.rps['2xx'] + f.rps['3xx'] + f.rps['4xx'] + f.rps['5xx'];
}

/** A table cell: text, and a bar of value/max when given (styles set through the CSSOM: the CSP allows no inline style). */
function cell(text, value, max) {
  const td = document.createElement('td');
  td.textContent = text;
  if (max !== undefined) {
    const share = max > 0 ? Math.min(1, value / max) : 0;
    const track = document.createElement('span');
    track.className = 'bar';
    const fill = document.createElement('span');
    if (share > 0.85) fill.className = 'hot';
    fill.style.width = `${(share * 100).toFixed(0)}%`;
    track.append(fill);
    td.append(track);
  }
  return td;
}

function setDep(id, state) {
  const el = $(id);
  el.className = `dep ${state}`;
  el.title = state === 'absent' ? 'not configured' : state;
}

function render() {
  const f = frames.at(-1);
  const now = f ? f.t : Date.now();
  for (const c of charts) draw(c, now);
  if (!f) return;
  const health = $('health');
  health.className = `health ${f.health.state}`;
  $('health-text').textContent = f.health.text;
  $('rps-now').textContent = fmt(totalRps(f));
  $('rps-sub').textContent = `5xx ${fmt(f.rps['5xx'])} · 4xx ${fmt(f.rps['4xx'])}`;
  $('lat-now').textContent = `${fmtMs(f.p50Ms)} / ${fmtMs(f.p99Ms)}`;
  $('hit-now').textContent = `${pct(f.memoryHitRatio)} / ${f.dependencies.redis === 'absent' ? 'no Redis' : pct(f.redisHitRatio)}`;
  $('hit-sub').textContent = 'memory answered / Redis hit';
  const degraded = Object.entries(f.degraded).sort((a, b) => b[1] - a[1]);
  $('deg-now').textContent = fmt(degraded.reduce((a, [, v]) => a + v, 0));
  $('deg-sub').textContent = degraded.length === 0 ? 'none' : degraded.slice(0, 2).map(([k, v]) => `${k.replace(' ', ' · ')} ${fmt(v)}`).join(', ');
  $('conn-now').textContent = fmt(f.connections);
  $('conn-sub').textContent = `${fmt(f.inFlight)} requests in flight`;
  setDep('dep-store', f.dependencies.store);
  setDep('dep-redis', f.dependencies.redis);
  $('dep-sub').textContent = f.pool ? `pool ${f.pool.busy}/${f.pool.size} busy, ${f.pool.waiting} waiting` : 'embedded store (no pool)';
  $('workers').textContent = `${f.workers.length} worker${f.workers.length === 1 ? '' : 's'}`;
  $('clock').textContent = new Date(f.t).toLocaleTimeString('en-GB');
  $('worker-rows').replaceChildren(...f.workers.map((w) => {
    const tr = document.createElement('tr');
    tr.append(
      cell(String(w.pid)), cell(fmt(w.rps)), cell(fmtMs(w.p99Ms)), cell(fmtMs(w.eventLoopDelayMs)),
      cell(w.utilization === null ? '–' : `${fmt(w.utilization * 100)} %`, w.utilization ?? 0, 1),
      cell(`${mib(w.rss)} / ${mib(w.rssMax)}`, w.rss, w.rssMax), cell(`${mib(w.heap)} / ${mib(w.heapMax)}`, w.heap, w.heapMax),
      cell(fmt(w.connections)), cell(w.poolBusy === null ? '–' : `${w.poolBusy} / ${w.poolWaiting}`),
    );
    return tr;
  }));
}

// The stream is open only while the tab is visible: a hidden tab costs the server nothing.
let source;
function connect() {
  if (source) return;
  source = new EventSource('/dashboard/events');
  $('stream').textContent = 'connecting';
  source.onopen = () => {
    $('stream').textContent = 'live';
  };
  source.onmessage = (e) => {
    const f = JSON.parse(e.data);
    if (frames.length > 0 && f.t <= frames.at(-1).t) return;
    frames.push(f);
    while (frames.length > 0 && frames[0].t < f.t - WINDOW_MS) frames.shift();
    render();
  };
  source.onerror = () => {
    $('stream').textContent = 'reconnecting';
  };
}
function disconnect() {
  if (!source) return;
  source.close();
  source = undefined;
  $('stream').textContent = 'paused (tab hidden)';
}
document.addEventListener('visibilitychange', () => (document.hidden ? disconnect() : connect()));
window.addEventListener('pagehide', disconnect);
window.addEventListener('resize', render);
if (!document.hidden) connect();
render();
