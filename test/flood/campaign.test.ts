// flood --campaign: the burst schedule, the per-recipient accounting and the caller's unhealthy-host window on
// synthetic input (no clock), and whole campaigns against small real servers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RecipientBook, isGoodCall } from '../../src/flood/campaign/book.ts';
import { BurstSchedule, MINUTE_MS } from '../../src/flood/campaign/burst.ts';
import { resolveCampaign, seededRandom } from '../../src/flood/campaign/options.ts';
import { startCampaign } from '../../src/flood/campaign/run.ts';
import { BRAZE_RULE, isCallerFailureStatus, judgeUnhealthy, type CallBucket } from '../../src/flood/campaign/unhealthy.ts';
import { verdict } from '../../src/flood/verdict.ts';
import { cli, startServer, tempDir } from './helpers.ts';

void test('burst schedule: each minute\'s quota is spread evenly over the burst at the start of its minute', () => {
  const s = new BurstSchedule(250, 100, 10_000);
  assert.equal(s.minutes, 3);
  assert.deepEqual([s.quota(0), s.quota(1), s.quota(2), s.quota(3)], [100, 100, 50, 0]);
  assert.equal(s.dueAt(0), 0);
  assert.equal(s.dueAt(1), 100);
  assert.equal(s.dueAt(99), 9_900);
  assert.equal(s.dueAt(100), MINUTE_MS);
  assert.equal(s.dueAt(200), 2 * MINUTE_MS);
  assert.equal(s.dueAt(201), 2 * MINUTE_MS + 200, 'the last, smaller minute spreads its 50 over the same burst');
  assert.equal(s.lastDueMs, 2 * MINUTE_MS + 9_800);
  // countBefore agrees with dueAt everywhere
  for (const t of [0, 1, 100, 101, 5_000, 9_950, 10_001, 30_000, MINUTE_MS, MINUTE_MS + 1, 2 * MINUTE_MS + 9_801, 4 * MINUTE_MS]) {
    let n = 0;
    for (let i = 0; i < 250; i++) if (s.dueAt(i) < t) n++;
    assert.equal(s.countBefore(t), n, `countBefore(${t})`);
  }
  // a zero burst releases the whole minute at once
  const all = new BurstSchedule(10, 10, 0);
  assert.equal(all.dueAt(9), 0);
  assert.equal(all.countBefore(1), 10);
});

void test('burst schedule as rate stages: 70,000 recipients in 10 s with 2.5 calls each is 17,500 calls/s', () => {
  const stages = new BurstSchedule(70_000, 70_000, 10_000).stages(2.5, 2_000);
  assert.deepEqual(stages, [{ durationMs: 10_000, from: 17_500, to: 17_500 }, { durationMs: 2_000, from: 0, to: 0 }]);
  const two = new BurstSchedule(20, 10, 5_000).stages(2, 1_000);
  assert.deepEqual(two.map((x) => x.durationMs), [5_000, 55_000, 5_000, 1_000]);
});

void test('per-recipient accounting: personalized only when every call was good, blank when none was', () => {
  const book = new RecipientBook();
  book.open(1, 3);
  book.open(2, 2);
  book.open(3, 2);
  assert.equal(book.close(1, true), null);
  assert.equal(book.close(2, false), null);
  assert.equal(book.close(1, true), null);
  assert.equal(book.close(3, true), null);
  assert.equal(book.close(1, true), 'personalized');
  assert.equal(book.close(2, false), 'blank');
  assert.equal(book.pending, 1);
  assert.equal(book.close(3, false), 'partial');
  assert.deepEqual(book.take(), { personalized: 1, partial: 1, blank: 1, goodCalls: 4, blankCalls: 3 });
  assert.deepEqual(book.take(), { personalized: 0, partial: 0, blank: 0, goodCalls: 0, blankCalls: 0 });
  assert.throws(() => book.close(9, true), /no open call/);
  // what counts as a good call: a 2xx that carries a body
  assert.equal(isGoodCall(200, true), true);
  assert.equal(isGoodCall(204, false), false);
  assert.equal(isGoodCall(200, false), false);
  assert.equal(isGoodCall(304, true), false);
  assert.equal(isGoodCall(503, true), false);
});

void test('unhealthy host: over 3,000 failures AND over 90 % in a 60 s sliding window', () => {
  const quiet = (n: number): CallBucket[] => Array.from({ length: n }, () => ({ calls: 1_000, failures: 0 }));
  // exactly at the bounds does not trip: "over" 3,000 and "over" 90 %
  assert.equal(judgeUnhealthy([{ calls: 3_001, failures: 3_000 }]).tripped, false);
  assert.equal(judgeUnhealthy([{ calls: 10_000, failures: 9_000 }]).tripped, false);
  const one = judgeUnhealthy([{ calls: 3_300, failures: 3_001 }]);
  assert.equal(one.tripped, true);
  assert.deepEqual(one.firstTrip, { fromSecond: 0, seconds: 1, calls: 3_300, failures: 3_001, share: 3_001 / 3_300 });
  // many failures at a low share (a big campaign with a few percent of 503s) does not trip
  assert.equal(judgeUnhealthy(Array.from({ length: 60 }, () => ({ calls: 10_000, failures: 500 }))).tripped, false);
  // a bad minute that straddles two calendar minutes: 30 s at the end of one and 30 s at the start of the next,
  // each half (1,800 failures among 30,000 calls) far from tripping, together 3,600 of 3,600; a per-calendar-
  // minute rule would miss it, the sliding window does not
  const straddle = [...quiet(30), ...Array.from({ length: 60 }, () => ({ calls: 60, failures: 60 })), ...quiet(30)];
  const v = judgeUnhealthy(straddle);
  assert.equal(v.tripped, true);
  assert.equal(v.firstTrip?.fromSecond, 30);
  assert.equal(v.firstTrip?.failures, 3_600);
  assert.equal(judgeUnhealthy(straddle.slice(0, 60)).tripped, false, 'the first calendar minute alone');
  assert.equal(judgeUnhealthy(straddle.slice(60)).tripped, false, 'the second calendar minute alone');
  // the quiet seconds around it dilute every other window under 90 %
  assert.equal(judgeUnhealthy(straddle.slice(0, 89)).tripped, false);
  assert.equal(judgeUnhealthy([]).worst, null);
  assert.equal(BRAZE_RULE.windowSeconds, 60);
  for (const s of [408, 429, 502, 503, 504, 529]) assert.equal(isCallerFailureStatus(s), true, String(s));
  for (const s of [200, 404, 500, 501, 599]) assert.equal(isCallerFailureStatus(s), false, String(s));
});

void test('campaign options: defaults, and the mistakes refused with a message', () => {
  const c = resolveCampaign({ url: 'http://127.0.0.1:1/{{int 1 9}}', recipients: '70000' });
  assert.equal(c.perMinute, 70_000);
  assert.equal(c.burstMs, 10_000);
  assert.deepEqual(c.calls, { min: 2, max: 3 });
  assert.equal(c.timeoutMs, 2_000);
  assert.equal(c.maxConnections, 2_000);
  assert.throws(() => resolveCampaign({ url: 'http://x/' }), /needs --recipients/);
  assert.throws(() => resolveCampaign({ url: 'http://x/', recipients: '5', calls: '3-2' }), /--calls/);
  assert.throws(() => resolveCampaign({ url: 'http://x/', recipients: '5', calls: 'two' }), /--calls/);
  assert.throws(() => resolveCampaign({ url: 'http://x/', recipients: '5', burst: '2m' }), /longer than the minute/);
  assert.throws(() => resolveCampaign({ url: 'http://x/', recipients: '0' }), /--recipients/);
  const a = seededRandom(7);
  const b = seededRandom(7);
  const xs = Array.from({ length: 5 }, () => a());
  assert.deepEqual(xs, Array.from({ length: 5 }, () => b()));
  assert.notDeepEqual(xs, Array.from({ length: 5 }, seededRandom(8)));
});

void test('a campaign against a real server: identical calls per recipient, outcomes by recipient, timeouts blank', async () => {
  // the answer depends on the id, so every call of one recipient gets the same answer
  await using srv = await startServer((req, res) => {
    const id = Number(/\/u\/(\d+)/.exec(req.url ?? '')?.[1] ?? 0);
    if (id % 5 === 1) {
      res.statusCode = 503;
      res.end('{"error":"busy"}');
    } else if (id % 5 === 2) {
      res.statusCode = 200;
      res.end(); // a 2xx without a body personalizes nothing
    } else if (id % 5 === 3) {
      // never answers: the call times out
    } else {
      res.setHeader('content-type', 'application/json');
      res.end(`{"id":${id}}`);
    }
  }, { keepTargets: true });
  const config = resolveCampaign({
    url: `${srv.url}/u/{{int 1 1000000000}}`, recipients: '300', 'per-minute': '300', burst: '500ms', timeout: '300ms', 'max-connections': '400', seed: '42',
  });
  // Connections enough for every call at once: the ~150 calls that hang hold theirs for the whole timeout, and with
  // fewer (40 before) the calls queued behind them timed out unsent on a busy machine, unseen by the server.
  const { result, campaign } = await (await startCampaign(config)).done;
  // every recipient's calls carry the same id, 2 or 3 of them
  const perTarget = new Map<string, number>();
  for (const t of srv.targets) perTarget.set(t, (perTarget.get(t) ?? 0) + 1);
  assert.equal(perTarget.size, 300, 'one id per recipient (seeded: no collision in this run)');
  let expected = { personalized: 0, blank: 0, calls: 0, timeouts: 0, s503: 0 };
  for (const [t, n] of perTarget) {
    assert.ok(n === 2 || n === 3, `${t} was called ${n} times`);
    const id = Number(/\/u\/(\d+)/.exec(t)?.[1]);
    expected.calls += n;
    if (id % 5 === 0 || id % 5 === 4) expected.personalized++;
    else expected.blank++;
    if (id % 5 === 3) expected.timeouts += n;
    if (id % 5 === 1) expected.s503 += n;
  }
  const k = campaign.counts;
  assert.equal(k.personalized, expected.personalized);
  assert.equal(k.blank, expected.blank);
  assert.equal(k.partial, 0);
  assert.equal(k.goodCalls + k.blankCalls, expected.calls);
  assert.equal(result.counts.failures.timeout, expected.timeouts);
  assert.equal(result.counts.statuses['503'], expected.s503);
  // the caller counts 503s and timeouts, not a 200 without a body
  const failures = campaign.perSecond.reduce((n, b) => n + b.failures, 0);
  assert.equal(failures, expected.s503 + expected.timeouts);
  assert.equal(campaign.unhealthy.tripped, false, 'a few hundred failures are far from 3,000');
  assert.ok(typeof verdict(result).trustworthy === 'boolean');
  // the same seed gives the same recipients
  const again = await (await startCampaign(config)).done;
  assert.deepEqual(again.campaign.counts, campaign.counts);
});

void test('a campaign against a server that answers 503 to everything trips the unhealthy-host rule', async () => {
  await using srv = await startServer((_req, res) => {
    res.statusCode = 503;
    res.end('busy');
  });
  const r = await cli([`${srv.url}/{{int 1 9}}`, '--campaign', '--recipients', '1001', '--calls', '3', '--burst', '1s', '--max-connections', '50']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Recipients {4}0 personalized \(0%\) · 0 partly \(0%\) · 1,001 blank \(100\.00%\)/);
  assert.match(r.stdout, /WOULD HAVE TRIPPED \(first tripping \d+ s window from 0 s: 3,003 failures of 3,003 calls/);
  assert.match(r.stdout, /Verdict: /, 'flood\'s own verdict is kept');
});

void test('the command line: campaign flags need --campaign, other models\' flags are refused with it, JSON has a campaign block', async () => {
  const lone = await cli(['http://127.0.0.1:1/', '--recipients', '10']);
  assert.equal(lone.code, 2);
  assert.match(lone.stderr, /--recipients belongs to --campaign/);
  const mixed = await cli(['http://127.0.0.1:1/', '--campaign', '--recipients', '10', '--rate', '100']);
  assert.equal(mixed.code, 2);
  assert.match(mixed.stderr, /--rate does not apply to --campaign/);
  await using srv = await startServer((_req, res) => res.end('{"ok":true}'));
  await using dir = await tempDir();
  const file = join(dir.path, 'c.json');
  const r = await cli([`${srv.url}/{{int 1 9}}`, '--campaign', '--recipients', '20', '--burst', '200ms', '--json', file]);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(await readFile(file, 'utf8')) as { campaign: { counts: { personalized: number }; personalizedShare: number }; verdict: unknown };
  assert.equal(doc.campaign.counts.personalized, 20);
  assert.equal(doc.campaign.personalizedShare, 1);
  assert.equal(Object.keys(doc).at(-1), 'verdict');
});
