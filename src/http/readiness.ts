// GET /readyz: which dependencies answer. Only required ones decide readiness (docs/design-notes.md).
/** Dependencies /readyz checks; a required one failing makes the instance not ready. */
export type Readiness = Record<string, { check: () => Promise<void>; required: boolean }>;

/**
 * Ready while every required dependency answers. An optional one (Redis: reads skip it while it fails) is
 * reported but only makes the status 'degraded': every instance shares it, so failing readiness on it would
 * pull every instance out of the load balancer at once. The reason a check fails is shown only when `detailed`.
 */
export async function readiness(checks: Readiness, detailed: boolean): Promise<{ ready: boolean; status: string; checks: Record<string, string> }> {
  const out: Record<string, string> = {};
  let ready = true;
  let degraded = false;
  await Promise.all(
    Object.entries(checks).map(async ([name, { check, required }]) => {
      try {
        await withTimeout(check(), 1000);
        out[name] = 'ok';
      } catch (err) {
        if (required) ready = false;
        else degraded = true;
        out[name] = detailed ? `failing: ${(err as Error).message}` : 'failing';
      }
    }),
  );
  return { ready, status: !ready ? 'not ready' : degraded ? 'degraded' : 'ready', checks: out };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
