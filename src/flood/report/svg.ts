// Tiny inline-SVG charts for the HTML report: lines over time (linear or logarithmic y) and stacked bars. Drawn
// here, as markup, so the report opens in any browser with no script and no network.

export interface Series {
  readonly name: string;
  readonly color: string;
  readonly values: readonly (number | null)[];
  readonly dashed?: boolean;
}

export interface ChartOptions {
  readonly title: string;
  readonly xs: readonly number[];
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  readonly log?: boolean;
  /** Shaded x ranges (e.g. seconds when the generator was the bottleneck), as [from, to) in x units. */
  readonly bands?: readonly (readonly [number, number])[];
  readonly bandLabel?: string;
  readonly formatY?: (v: number) => string;
  readonly formatX?: (v: number) => string;
  readonly yMax?: number;
  /** The y values are counts: ticks at whole numbers only. */
  readonly integer?: boolean;
  /** Start the x axis here rather than at the first point (time axes start at 0). */
  readonly xFrom?: number;
}

const W = 860;
const H = 260;
const M = { left: 72, right: 16, top: 28, bottom: 40 };

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

function niceStep(span: number, ticks: number): number {
  const raw = span / Math.max(1, ticks);
  const p = 10 ** Math.floor(Math.log10(raw || 1));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * p;
}

function compact(v: number): string {
  if (v >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  return `${+v.toFixed(3)}`;
}

interface Frame {
  x(v: number): number;
  y(v: number): number;
  svg: string[];
}

function frame(o: ChartOptions, yMinData: number, yMaxData: number): Frame {
  const xs = o.xs;
  const xMin = o.xFrom ?? (xs.length > 0 ? Math.min(...xs) : 0);
  const xMax = xs.length > 1 ? Math.max(...xs) : xMin + 1;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const fy = o.formatY ?? compact;
  const fx = o.formatX ?? compact;
  const svg: string[] = [];
  let y: (v: number) => number;
  const yTicks: number[] = [];
  if (o.log) {
    const lo = 10 ** Math.floor(Math.log10(Math.max(yMinData, 0.001)));
    const hi = 10 ** Math.ceil(Math.log10(Math.max(yMaxData, lo * 10)));
    const l0 = Math.log10(lo);
    const l1 = Math.log10(hi);
    y = (v) => M.top + ph - ((Math.log10(Math.max(v, lo)) - l0) / (l1 - l0)) * ph;
    for (let t = lo; t <= hi * 1.0001; t *= 10) yTicks.push(t);
  } else {
    const top = o.yMax ?? (yMaxData > 0 ? yMaxData * 1.08 : 1);
    const step = o.integer ? Math.max(1, Math.round(niceStep(top, 5))) : niceStep(top, 5);
    const hi = Math.ceil(top / step) * step;
    y = (v) => M.top + ph - (v / hi) * ph;
    for (let t = 0; t <= hi * 1.0001; t += step) yTicks.push(t);
  }
  const x = (v: number): number => M.left + ((v - xMin) / (xMax - xMin || 1)) * pw;
  svg.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${escapeXml(o.title)}">`);
  svg.push(`<text x="${M.left}" y="16" class="t">${escapeXml(o.title)}</text>`);
  for (const [a, b] of o.bands ?? []) {
    svg.push(`<rect x="${x(a).toFixed(1)}" y="${M.top}" width="${Math.max(1, x(b) - x(a)).toFixed(1)}" height="${ph}" class="band"><title>${escapeXml(o.bandLabel ?? '')}</title></rect>`);
  }
  for (const t of yTicks) {
    const yy = y(t).toFixed(1);
    svg.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${yy}" y2="${yy}" class="grid"/><text x="${M.left - 6}" y="${yy}" class="yt">${escapeXml(fy(t))}</text>`);
  }
  const xStep = niceStep(xMax - xMin, 10);
  for (let t = Math.ceil(xMin / xStep) * xStep; t <= xMax + 1e-9; t += xStep) {
    svg.push(`<text x="${x(t).toFixed(1)}" y="${H - M.bottom + 16}" class="xt">${escapeXml(fx(t))}</text>`);
  }
  svg.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${M.top + ph}" y2="${M.top + ph}" class="axis"/>`);
  svg.push(`<text x="${M.left + pw / 2}" y="${H - 6}" class="xl">${escapeXml(o.xLabel)}</text>`);
  svg.push(`<text transform="translate(12 ${M.top + ph / 2}) rotate(-90)" class="yl">${escapeXml(o.yLabel)}</text>`);
  return { x, y, svg };
}

function legend(series: readonly { name: string; color: string; dashed?: boolean }[]): string {
  let x = W - M.right;
  const items: string[] = [];
  for (const s of [...series].reverse()) {
    const w = s.name.length * 6.5 + 26;
    x -= w;
    items.push(`<g transform="translate(${x.toFixed(0)} 10)"><line x1="0" x2="16" y1="0" y2="0" stroke="${s.color}" stroke-width="3"${s.dashed ? ' stroke-dasharray="4 3"' : ''}/><text x="20" y="4" class="lg">${escapeXml(s.name)}</text></g>`);
  }
  return items.join('');
}

export function lineChart(o: ChartOptions): string {
  const all = o.series.flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v)));
  const positive = all.filter((v) => v > 0);
  const f = frame(o, positive.length > 0 ? Math.min(...positive) : 1, all.length > 0 ? Math.max(...all) : 1);
  for (const s of o.series) {
    let d = '';
    let pen = false;
    s.values.forEach((v, i) => {
      const xv = o.xs[i];
      if (v === null || !Number.isFinite(v) || xv === undefined || (o.log && v <= 0)) {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${f.x(xv).toFixed(1)} ${f.y(v).toFixed(1)}`;
      pen = true;
    });
    if (d !== '') f.svg.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}><title>${escapeXml(s.name)}</title></path>`);
    if (o.xs.length === 1 && s.values[0] !== null && s.values[0] !== undefined) {
      f.svg.push(`<circle cx="${f.x(o.xs[0] ?? 0).toFixed(1)}" cy="${f.y(s.values[0]).toFixed(1)}" r="3" fill="${s.color}"/>`);
    }
  }
  f.svg.push(legend(o.series));
  f.svg.push('</svg>');
  return f.svg.join('');
}

/** Stacked bars per x (one second wide each). */
export function barChart(o: ChartOptions): string {
  const totals = o.xs.map((_, i) => o.series.reduce((n, s) => n + (s.values[i] ?? 0), 0));
  const f = frame({ ...o, xs: o.xs.length > 0 ? [...o.xs, (o.xs[o.xs.length - 1] ?? 0) + 1] : [0, 1], log: false }, 0, Math.max(1, ...totals));
  const bw = o.xs.length > 1 ? Math.max(1, f.x(o.xs[1] ?? 1) - f.x(o.xs[0] ?? 0) - 1) : 20;
  o.xs.forEach((xv, i) => {
    let base = 0;
    for (const s of o.series) {
      const v = s.values[i] ?? 0;
      if (v <= 0) continue;
      const y0 = f.y(base);
      const y1 = f.y(base + v);
      f.svg.push(`<rect x="${f.x(xv).toFixed(1)}" y="${y1.toFixed(1)}" width="${bw.toFixed(1)}" height="${Math.max(0.5, y0 - y1).toFixed(1)}" fill="${s.color}"><title>${escapeXml(`${s.name}: ${v} at ${xv} s`)}</title></rect>`);
      base += v;
    }
  });
  if (totals.every((t) => t === 0)) f.svg.push(`<text x="${W / 2}" y="${H / 2}" class="none">no errors</text>`);
  f.svg.push(legend(o.series));
  f.svg.push('</svg>');
  return f.svg.join('');
}
