// Admission control on an injected clock: slots, the bounded FIFO queue, deadlines, pressure. No sleeping.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Admission, type ShedReason } from '../../src/http/admission.ts';
import { LoopWait } from '../../src/http/loop-wait.ts';
import { PressureMonitor } from '../../src/http/pressure.ts';

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
  it('memory: names the watermark passed and clears when back under', () => {
    const p = new PressureMonitor(limits);
    p.update({ eventLoopDelayMs: 10, heapUsed: 10, rss: 10 });
    assert.equal(p.reason, undefined);
    p.update({ eventLoopDelayMs: 10, heapUsed: 1001, rss: 10 });
    assert.equal(p.reason, 'memory');
    assert.equal(p.reasonAt(0), 'memory');
    p.update({ eventLoopDelayMs: 10, heapUsed: 10, rss: 5001 });
    assert.equal(p.reason, 'memory');
    p.update({ eventLoopDelayMs: 10, heapUsed: 10, rss: 10 });
    assert.equal(p.reason, undefined);
  });
  it('a watermark of 0 is off', () => {
    const p = new PressureMonitor({ maxEventLoopDelayMs: 0, maxHeapBytes: 0, maxRssBytes: 0 });
    p.update({ eventLoopDelayMs: 1e6, heapUsed: 1e12, rss: 1e12 });
    assert.equal(p.reason, undefined);
  });
});

/**
 * A simulated event loop on an injected clock: `iteration(at, n, per)` reads n requests from `at`, `per` ms
 * apart, then closes the iteration (its check phase); `idleFor(ms)` blocks for I/O. `verdicts` are the pressure
 * monitor's answers for the requests of the last iteration, as if each were a miss.
 */
function simulatedLoop(limits: { maxEventLoopDelayMs: number; budgetMs?: number }) {
  let idle = 0;
  let now = 0;
  const pending: (() => void)[] = [];
  const wait = new LoopWait(() => idle, (fn) => pending.push(fn), () => now);
  const p = new PressureMonitor({ ...limits, maxHeapBytes: 0, maxRssBytes: 0 }, () => now, wait);
  return {
    p,
    idleFor(ms: number) {
      idle += ms;
      now += ms;
    },
    /** n connections accepted in one iteration (all at `now`), which then closes; their first requests are read by `firsts`. */
    accept(n: number): object[] {
      const sockets = Array.from({ length: n }, () => ({}));
      for (const s of sockets) p.connected(s, now);
      for (const fn of pending.splice(0)) fn();
      return sockets;
    },
    firsts(sockets: object[], perMs: number): (string | undefined)[] {
      const verdicts: (string | undefined)[] = [];
      for (const s of sockets) {
        p.arrive(now);
        verdicts.push(p.reasonAt(now, s));
        now += perMs;
      }
      for (const fn of pending.splice(0)) fn();
      return verdicts;
    },
    iteration(n: number, perMs: number): (string | undefined)[] {
      const verdicts: (string | undefined)[] = [];
      for (let i = 0; i < n; i++) {
        p.arrive(now);
        verdicts.push(p.reasonAt(now));
        now += perMs;
      }
      for (const fn of pending.splice(0)) fn();
      return verdicts;
    },
    /** Time spent in the loop on something else (timers, replies), not idle. */
    busyFor(ms: number) {
      now += ms;
    },
    tick() {
      p.tick();
    },
  };
}

describe('shedding from measured queueing (LoopWait + PressureMonitor)', () => {
  it('idle connections never cause refusals: a loop that idles between requests sheds nothing, however long they sit', () => {
    const loop = simulatedLoop({ maxEventLoopDelayMs: 100, budgetMs: 900 });
    for (let i = 0; i < 1000; i++) {
      loop.idleFor(5_000); // thousands of keep-alive connections may be open: none holds a request
      assert.deepEqual(loop.iteration(3, 0.05), [undefined, undefined, undefined]);
    }
  });

  it('a loop with no idle time that keeps up sheds nothing (a closed-loop load test)', () => {
    const loop = simulatedLoop({ maxEventLoopDelayMs: 100, budgetMs: 900 });
    // 100 % busy: every iteration reads 200 requests at 0.1 ms each (20 ms), never blocking for I/O.
    for (let i = 0; i < 500; i++) assert.ok(loop.iteration(200, 0.1).every((v) => v === undefined));
  });

  it('a standing queue is shed once the wait passes the target, before the deadline would be missed', () => {
    const loop = simulatedLoop({ maxEventLoopDelayMs: 100, budgetMs: 900 });
    loop.iteration(1, 0);
    // A burst: the next iteration reads 3,000 requests at 0.1 ms each (300 ms); requests read later waited longer.
    loop.busyFor(1); // the rest of the iteration
    const v = loop.iteration(3000, 0.1);
    const firstShed = v.indexOf('event-loop');
    // The i-th request waited at most 1 ms + i × 0.1 ms (since the previous iteration began): over 100 ms from i ≈ 990.
    assert.ok(firstShed > 980 && firstShed < 1000, `first shed at ${firstShed}`);
    assert.ok(v.slice(firstShed).every((x) => x === 'event-loop'), 'everything past the target is shed');
    assert.ok(v.slice(0, firstShed).every((x) => x === undefined), 'everything before it is admitted');
    // The next iteration follows at once, without idling: its requests waited since the burst began.
    const next = loop.iteration(10, 0.1);
    assert.ok(next.every((x) => x === 'event-loop'), 'requests that queued behind the burst are shed too');
  });

  it('recovers at once when the queue drains: the first iteration after an idle moment admits everything', () => {
    const loop = simulatedLoop({ maxEventLoopDelayMs: 100, budgetMs: 900 });
    loop.iteration(1, 0);
    loop.iteration(3000, 0.1);
    loop.idleFor(0.5);
    assert.ok(loop.iteration(500, 0.1).every((x) => x === undefined));
  });

  it('a loop that is busy but keeps yielding (timers keep running) is not a queue, even with no request for long', () => {
    const loop = simulatedLoop({ maxEventLoopDelayMs: 100, budgetMs: 900 });
    loop.iteration(1, 0);
    // Two seconds of a bulk import in 20 ms batches, yielding between them: the sampler runs every 25 ms.
    for (let t = 0; t < 2000; t += 25) {
      loop.busyFor(25);
      loop.tick();
    }
    loop.busyFor(20);
    assert.deepEqual(loop.iteration(2, 0.1), [undefined, undefined], 'the request waited at most 45 ms');
    // But one long stall (the sampler could not run) is a queue.
    loop.busyFor(400);
    assert.deepEqual(loop.iteration(1, 0.1), ['event-loop']);
  });

  it('a stall that follows an idle moment is a queue: what arrived during it waited for all of it', () => {
    const loop = simulatedLoop({ maxEventLoopDelayMs: 150, budgetMs: 900 });
    loop.iteration(3, 0.1);
    loop.idleFor(20); // the loop blocks for I/O, then a timer's callback runs for 400 ms
    loop.busyFor(400);
    // Requests that reached the kernel during the callback are read now: they waited up to 400 ms.
    assert.deepEqual(loop.iteration(3, 0.1), ['event-loop', 'event-loop', 'event-loop']);
    // New connections that queued in the kernel during it are accepted in one go (many listening sockets)
    // and their first requests read in the next iteration: they too waited since before the stall.
    loop.idleFor(20);
    loop.busyFor(400);
    const sockets = loop.accept(50);
    assert.ok(loop.firsts(sockets, 0.05).every((v) => v === 'event-loop'));
    // The same idle moment with only a short callback after it is no queue.
    loop.idleFor(20);
    loop.busyFor(5);
    assert.deepEqual(loop.iteration(3, 0.1), [undefined, undefined, undefined]);
    // The sampler's run after the callback and before the block tightens the bound: the callback came before the block.
    loop.busyFor(400);
    loop.tick();
    loop.idleFor(3);
    assert.deepEqual(loop.iteration(2, 0.1), [undefined, undefined]);
  });

  it('a miss predicted to finish past the budget is shed, and that prediction decays when no miss is admitted', () => {
    const loop = simulatedLoop({ maxEventLoopDelayMs: 500, budgetMs: 900 });
    for (let i = 0; i < 200; i++) loop.p.missAnswered(850); // misses now take 850 ms (a slow store)
    assert.ok(loop.p.missMs > 840);
    loop.iteration(1, 0);
    loop.busyFor(1);
    const v = loop.iteration(1000, 0.1);
    // Waits of 1..100 ms: 850 + wait passes 900 from wait 50 ms on, well under the 500 ms loop target.
    const firstShed = v.indexOf('event-loop');
    assert.ok(firstShed > 485 && firstShed < 495, `first shed at ${firstShed}`);
    for (let i = 0; i < 25; i++) loop.tick(); // 625 ms with no miss answered
    assert.ok(loop.p.missMs < 10, `forgotten: ${loop.p.missMs}`);
  });

  it('a standing queue (every miss waited over 250 ms for 100 ms) shrinks the admitted share; it grows back once drained', () => {
    const loop = simulatedLoop({ maxEventLoopDelayMs: 2000, budgetMs: 3000 });
    loop.iteration(1, 0);
    // 2,000 connections each holding a request, at 0.15 ms a request: every iteration is 300 ms long and every
    // request waited 300 to 600 ms. Under the 2 s target, yet standing: the callers' own queues grow.
    const shares: number[] = [];
    for (let i = 0; i < 10; i++) {
      loop.iteration(2000, 0.15);
      loop.tick(); // the sampler runs once between two such iterations
      shares.push(loop.p.admitShare);
    }
    assert.deepEqual(shares.slice(0, 1), [1], 'not yet standing for 100 ms');
    assert.ok((shares[9] ?? 1) < 0.1, `the share fell: ${shares.join(', ')}`);
    const v = loop.iteration(2000, 0.15);
    const admitted = v.filter((x) => x === undefined).length;
    assert.ok(Math.abs(admitted - 2000 * (shares[9] ?? 0)) <= 2, `admitted ${admitted}: the share, spread evenly`);
    // The queue drains while the loop stays busy: the share grows back by 5 points a sample.
    loop.iteration(1, 0.05);
    loop.busyFor(1);
    const low = loop.p.admitShare;
    loop.iteration(10, 0.05);
    loop.tick();
    assert.ok(Math.abs(loop.p.admitShare - Math.min(1, low + 0.05)) < 1e-9, `additive increase: ${low} → ${loop.p.admitShare}`);
    // The loop idles: nothing is queued, every miss is let through again at once.
    loop.idleFor(5);
    loop.iteration(10, 0.05);
    loop.tick();
    assert.equal(loop.p.admitShare, 1);
  });

  it('a campaign\'s queue of 50-200 ms, under the loop-wait target, is not a standing one: nothing is shed', () => {
    const loop = simulatedLoop({ maxEventLoopDelayMs: 500, budgetMs: 900 });
    loop.iteration(1, 0);
    // The loop at about 90 % of its capacity: every iteration 100 ms long, every request waited 100-200 ms.
    for (let i = 0; i < 40; i++) {
      assert.ok(loop.iteration(2000, 0.05).every((x) => x === undefined), `iteration ${i}`);
      loop.tick();
    }
    assert.equal(loop.p.admitShare, 1);
  });

  it('a burst that drains within 100 ms is not a standing queue', () => {
    const loop = simulatedLoop({ maxEventLoopDelayMs: 500, budgetMs: 900 });
    for (let i = 0; i < 50; i++) {
      loop.iteration(1, 0);
      loop.iteration(3000, 0.05); // 150 ms of requests arriving at once (2–3 calls a recipient)
      loop.tick();
      loop.idleFor(10); // then the loop catches up and idles
      loop.iteration(5, 0.05);
      loop.tick();
      loop.tick();
    }
    assert.equal(loop.p.admitShare, 1);
  });

  it('0 turns event-loop shedding off entirely', () => {
    const loop = simulatedLoop({ maxEventLoopDelayMs: 0, budgetMs: 900 });
    loop.iteration(1, 0);
    assert.ok(loop.iteration(20_000, 0.1).every((x) => x === undefined));
  });
});
