// Admission control on an injected clock: slots, the bounded FIFO queue, deadlines, pressure. No sleeping.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Admission, type ShedReason } from '../../src/http/admission.ts';
import { PressureMonitor, SAMPLE_MS } from '../../src/http/pressure.ts';

function setup(opts: { maxInFlight: number; maxQueue: number; deadlineMs?: number }) {
  let now = 0;
  const adm = new Admission({ ...opts, deadlineMs: opts.deadlineMs ?? 1000, now: () => now, sweepMs: 0 });
  const started: number[] = [];
  const expired: [number, ShedReason][] = [];
  const submit = (id: number, arrivedAt = now) =>
    adm.submit(arrivedAt, () => started.push(id), (reason) => expired.push([id, reason]));
  return { adm, started, expired, submit, advance: (ms: number) => (now += ms) };
}

describe('admission control', () => {
  it('runs up to maxInFlight reads at once and queues the rest in arrival order', () => {
    const { adm, started, submit } = setup({ maxInFlight: 2, maxQueue: 10 });
    const t = [1, 2, 3, 4].map((id) => submit(id));
    assert.deepEqual(started, [1, 2]);
    assert.equal(adm.inFlight, 2);
    assert.equal(adm.queued, 2);
    adm.done(t[1]!);
    assert.deepEqual(started, [1, 2, 3], 'a freed slot goes to the oldest queued read');
    adm.done(t[0]!);
    assert.deepEqual(started, [1, 2, 3, 4]);
    assert.equal(adm.queued, 0);
  });

  it('a new read never jumps the queue, even when a slot is free for a moment', () => {
    const { adm, started, submit } = setup({ maxInFlight: 1, maxQueue: 10 });
    const a = submit(1);
    submit(2);
    adm.done(a); // 2 starts
    submit(3); // slot taken by 2: queued
    assert.deepEqual(started, [1, 2]);
    assert.equal(adm.queued, 1);
  });

  it('answers queue-full at once when the queue is full', () => {
    const { started, expired, submit } = setup({ maxInFlight: 1, maxQueue: 1 });
    submit(1);
    submit(2);
    const t3 = submit(3);
    assert.deepEqual(started, [1]);
    assert.deepEqual(expired, [[3, 'queue-full']]);
    assert.equal(t3.expired, true);
  });

  it('expires a queued read at its deadline and never starts it afterwards', () => {
    const { adm, started, expired, submit, advance } = setup({ maxInFlight: 1, maxQueue: 5, deadlineMs: 1000 });
    const first = submit(1);
    advance(100);
    submit(2);
    advance(adm.budgetMs - 100); // read 1 is due, read 2 not yet
    adm.sweep();
    assert.deepEqual(expired, [[1, 'deadline']]);
    assert.equal(adm.inFlight, 1, 'an expired running read keeps its slot until its work settles');
    advance(100);
    adm.sweep();
    assert.deepEqual(expired, [[1, 'deadline'], [2, 'deadline']]);
    assert.equal(adm.queued, 0);
    adm.done(first);
    assert.deepEqual(started, [1], 'the expired queued read was dropped, not started late');
    assert.equal(adm.inFlight, 0);
  });

  it('holds its invariants over a long random run (every read answered exactly once, bounds kept)', () => {
    let now = 0;
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const adm = new Admission({ maxInFlight: 3, maxQueue: 5, deadlineMs: 100, now: () => now, sweepMs: 0 });
    const outcome = new Map<number, string>();
    const running = new Map<number, ReturnType<typeof adm.submit>>();
    const tickets = new Map<number, ReturnType<typeof adm.submit>>();
    for (let i = 0; i < 20_000; i++) {
      const r = rand();
      if (r < 0.5) {
        const id = i;
        let started = false;
        const t = adm.submit(now - Math.floor(rand() * 20), () => {
          started = true;
          const mine = tickets.get(id);
          if (mine) running.set(id, mine); // started later, from the queue
        }, (reason) => {
          assert.ok(!outcome.has(id), `read ${id} answered twice`);
          outcome.set(id, reason);
        });
        tickets.set(id, t);
        if (started) running.set(id, t);
      } else if (r < 0.8 && running.size > 0) {
        const [id, t] = [...running][Math.floor(rand() * running.size)]!;
        running.delete(id);
        if (!t.expired) {
          assert.ok(!outcome.has(id));
          outcome.set(id, 'content');
        }
        adm.done(t);
      } else {
        now += Math.floor(rand() * 30);
        adm.sweep();
      }
      assert.ok(adm.inFlight <= 3 && adm.queued <= 5, `bounds: ${adm.inFlight} ${adm.queued}`);
      assert.equal(adm.inFlight, running.size);
    }
    now += 1000;
    adm.sweep();
    for (const t of running.values()) adm.done(t);
    assert.equal(adm.queued, 0);
    assert.equal(adm.inFlight, 0);
    const counts = { content: 0, deadline: 0, 'queue-full': 0 } as Record<string, number>;
    for (const o of outcome.values()) counts[o] = (counts[o] ?? 0) + 1;
    assert.ok((counts.content ?? 0) > 1000 && (counts.deadline ?? 0) > 100 && (counts['queue-full'] ?? 0) > 100, JSON.stringify(counts));
  });

  it('a read that settles before its deadline is never expired', () => {
    const { adm, expired, submit, advance } = setup({ maxInFlight: 4, maxQueue: 4 });
    const t = submit(1);
    advance(10);
    adm.done(t);
    advance(10_000);
    adm.sweep();
    assert.deepEqual(expired, []);
  });

  it('a read that arrives already past its budget (the loop was blocked) is answered at once', () => {
    const { started, expired, submit, advance } = setup({ maxInFlight: 4, maxQueue: 4, deadlineMs: 500 });
    advance(2000);
    submit(1, 0);
    assert.deepEqual(started, []);
    assert.deepEqual(expired, [[1, 'deadline']]);
  });

  it('keeps room before the caller-facing deadline for the sweep and the write', () => {
    assert.ok(new Admission({ maxInFlight: 1, maxQueue: 1, deadlineMs: 1000, sweepMs: 0 }).budgetMs <= 1000);
    const a = new Admission({ maxInFlight: 1, maxQueue: 1, deadlineMs: 1000 });
    assert.ok(a.budgetMs < 1000 && a.budgetMs >= 800, `budget ${a.budgetMs}`);
    a.close();
  });
});

describe('pressure', () => {
  const limits = { maxEventLoopDelayMs: 200, maxHeapBytes: 1000, maxRssBytes: 5000 };
  it('names the first watermark passed and clears when back under', () => {
    const p = new PressureMonitor(limits);
    p.update({ eventLoopDelayMs: 10, heapUsed: 10, rss: 10 });
    assert.equal(p.reason, undefined);
    p.update({ eventLoopDelayMs: 250, heapUsed: 10, rss: 10 });
    assert.equal(p.reason, undefined, 'one late sample is not overload');
    p.update({ eventLoopDelayMs: 250, heapUsed: 10, rss: 10 });
    assert.equal(p.reason, 'event-loop');
    p.update({ eventLoopDelayMs: 101, heapUsed: 10, rss: 10 });
    assert.equal(p.reason, 'event-loop', 'stays until the loop is back under half the watermark');
    p.update({ eventLoopDelayMs: 10, heapUsed: 1001, rss: 10 });
    assert.equal(p.reason, 'memory');
    p.update({ eventLoopDelayMs: 10, heapUsed: 10, rss: 5001 });
    assert.equal(p.reason, 'memory');
    p.update({ eventLoopDelayMs: 10, heapUsed: 10, rss: 10 });
    assert.equal(p.reason, undefined);
  });
  it('the loop must be late twice in a row: one slow callback is not overload', () => {
    let now = 0;
    const p = new PressureMonitor({ ...limits, maxHeapBytes: 0, maxRssBytes: 0 }, () => now);
    p.tick();
    now += SAMPLE_MS + 500; // one 500 ms stall
    p.tick();
    assert.equal(p.reason, undefined);
    now += SAMPLE_MS + 300; // and another: a standing queue
    p.tick();
    assert.equal(p.reason, 'event-loop');
    now += SAMPLE_MS + 150;
    p.tick();
    assert.equal(p.reason, 'event-loop', 'still over half the watermark');
    now += SAMPLE_MS;
    p.tick();
    assert.equal(p.reason, undefined, 'clears as soon as the loop keeps time');
  });
  it('inside a long loop iteration after a late one, an overdue sampler already means event-loop pressure', () => {
    let now = 0;
    const p = new PressureMonitor({ ...limits, maxHeapBytes: 0, maxRssBytes: 0 }, () => now);
    assert.equal(p.reasonAt(10_000), undefined, 'not before the sampler ever ran');
    p.tick();
    assert.equal(p.reasonAt(SAMPLE_MS + 1000), undefined, 'one stall is not a standing queue');
    now += SAMPLE_MS + 300; // the iteration that ran the stalled requests was long too
    p.tick();
    assert.equal(p.reason, undefined, 'one late sample alone sets nothing');
    assert.equal(p.reasonAt(now + SAMPLE_MS + 200), undefined);
    assert.equal(p.reasonAt(now + SAMPLE_MS + 201), 'event-loop');
  });
  it('while the loop has no idle time, a shrinking share of misses is shed; it grows back once the loop idles', () => {
    const p = new PressureMonitor({ maxEventLoopDelayMs: 0, maxHeapBytes: 0, maxRssBytes: 0, maxUtilization: 0.9 });
    const sample = (utilization: number, backlogMs = 1000) => p.update({ eventLoopDelayMs: 0, utilization, backlogMs, heapUsed: 0, rss: 0 });
    sample(0.9);
    assert.equal(p.admitShare, 1, 'at the watermark nothing is shed');
    for (let i = 0; i < 3; i++) sample(0.99);
    assert.equal(p.admitShare, 1, 'saturation must last 100 ms (4 samples) before anything is shed');
    sample(0.99);
    assert.ok(Math.abs(p.admitShare - 0.7) < 1e-9, `multiplicative decrease: ${p.admitShare}`);
    for (let i = 0; i < 50; i++) sample(1);
    assert.ok(p.admitShare > 0 && p.admitShare <= 0.02 + 1e-9, `never below the floor, never zero: ${p.admitShare}`);
    assert.equal(p.reason, undefined, 'no watermark state: the share alone decides');
    sample(0.5);
    assert.ok(Math.abs(p.admitShare - 0.07) < 1e-9, `additive increase: ${p.admitShare}`);
    for (let i = 0; i < 20; i++) sample(0.5);
    assert.equal(p.admitShare, 1, 'back to every miss within 20 samples (half a second)');
  });
  it('a busy loop whose connections hold little work is not overload (a closed-loop load test)', () => {
    const p = new PressureMonitor({ maxEventLoopDelayMs: 0, maxHeapBytes: 0, maxRssBytes: 0, maxUtilization: 0.9 });
    // 256 connections at 100 µs a request: at most 26 ms of work waiting, however busy the loop.
    for (let i = 0; i < 40; i++) p.update({ eventLoopDelayMs: 0, utilization: 1, backlogMs: 26, heapUsed: 0, rss: 0 });
    assert.equal(p.admitShare, 1);
    // 10,000 connections: a second of work may be waiting.
    for (let i = 0; i < 4; i++) p.update({ eventLoopDelayMs: 0, utilization: 1, backlogMs: 1000, heapUsed: 0, rss: 0 });
    assert.ok(p.admitShare < 1);
  });
  it('sheds exactly the complement of the share, spread evenly', () => {
    const p = new PressureMonitor({ maxEventLoopDelayMs: 0, maxHeapBytes: 0, maxRssBytes: 0, maxUtilization: 0.9 });
    for (let i = 0; i < 7; i++) p.update({ eventLoopDelayMs: 0, utilization: 1, heapUsed: 0, rss: 0 });
    const share = p.admitShare; // 0.7^4 ≈ 0.24
    const verdicts = Array.from({ length: 1000 }, () => p.reasonAt(0));
    const admitted = verdicts.filter((v) => v === undefined).length;
    assert.ok(Math.abs(admitted - share * 1000) <= 1, `admitted ${admitted} of 1000 at share ${share}`);
    assert.ok(verdicts.every((v) => v === undefined || v === 'event-loop'));
    // Evenly: never more than ceil(1/share) sheds in a row.
    let run = 0;
    let longest = 0;
    for (const v of verdicts) longest = Math.max(longest, (run = v === undefined ? 0 : run + 1));
    assert.ok(longest <= Math.ceil(1 / share), `longest run of sheds ${longest}`);
  });
  it('utilisation control is off at 100 %', () => {
    const p = new PressureMonitor({ maxEventLoopDelayMs: 0, maxHeapBytes: 0, maxRssBytes: 0, maxUtilization: 1 });
    for (let i = 0; i < 10; i++) p.update({ eventLoopDelayMs: 0, utilization: 1, heapUsed: 0, rss: 0 });
    assert.equal(p.admitShare, 1);
    assert.equal(p.reasonAt(0), undefined);
  });
  it('a watermark of 0 is off', () => {
    const p = new PressureMonitor({ maxEventLoopDelayMs: 0, maxHeapBytes: 0, maxRssBytes: 0 });
    p.update({ eventLoopDelayMs: 1e6, heapUsed: 1e12, rss: 1e12 });
    assert.equal(p.reason, undefined);
  });
});
