// One dedicated subscriber connection that keeps one channel subscribed, across reconnects and node changes.
//
// Plain PUBLISH in Redis Cluster is broadcast to every node, so subscribing on any single node (master or
// replica) hears every message: we subscribe with a plain connection to one node and move to the next known
// node when that one stays away. ioredis's own autoResubscribe is off: we SUBSCRIBE again on every 'ready'
// ourselves, so we know the moment the subscription is back and can report the gap (messages published while
// it was down were lost; pub/sub does not replay).
import { Redis } from 'ioredis';
import { backoff, type Endpoint, type ParsedRedisUrl } from '../tiers/redis-connect.ts';

/** Reconnect attempts to one node before a Cluster subscriber moves on to the next known node. */
const ATTEMPTS_PER_NODE = 3;

export interface SubscriberEvents {
  message(payload: string): void;
  /** The subscription is back after an interruption: anything published meanwhile was not delivered. */
  resubscribed(): void;
}

export class ChannelSubscriber {
  readonly #target: ParsedRedisUrl;
  readonly #channel: string;
  readonly #events: SubscriberEvents;
  /** Cluster: more nodes to try (e.g. the publisher's view of the cluster), beyond the URL's seeds. */
  readonly #discover: () => readonly Endpoint[];
  #conn: Redis | undefined;
  #nodeIndex = 0;
  #everSubscribed = false;
  #subscribed = false;
  #closed = false;
  #nextNode: NodeJS.Timeout | undefined;
  /** Cluster: every node any node we were connected to has told us about (CLUSTER SLOTS). */
  readonly #learned = new Map<string, Endpoint>();

  constructor(target: ParsedRedisUrl, channel: string, events: SubscriberEvents, discover: () => readonly Endpoint[]) {
    this.#target = target;
    this.#channel = channel;
    this.#events = events;
    this.#discover = discover;
    this.#connect(target.nodes[0]!);
  }

  /** True while the channel is subscribed on a live connection. */
  get subscribed(): boolean {
    return this.#subscribed;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#nextNode);
    const conn = this.#conn;
    this.#conn = undefined;
    if (!conn) return;
    try {
      await conn.quit();
    } catch {
      conn.disconnect();
    }
  }

  #connect(node: Endpoint): void {
    const cluster = this.#target.cluster;
    const conn = new Redis({
      host: node.host,
      port: node.port,
      username: this.#target.username,
      password: this.#target.password,
      tls: this.#target.tls ? {} : undefined,
      db: cluster ? 0 : this.#target.db,
      connectionName: 'floodgate-bus-subscriber',
      connectTimeout: 1_000,
      commandTimeout: 1_000,
      autoResubscribe: false,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      // Standalone: retry the one server forever. Cluster: a few tries, then the next node ('end' below).
      retryStrategy: (attempt) => (cluster && attempt > ATTEMPTS_PER_NODE ? null : backoff(attempt)),
    });
    this.#conn = conn;
    conn.on('error', () => undefined);
    conn.on('message', (channel: string, payload: string) => {
      if (channel === this.#channel) this.#events.message(payload);
    });
    conn.on('ready', () => this.#subscribe(conn));
    conn.on('close', () => {
      this.#subscribed = false;
    });
    conn.on('end', () => {
      if (this.#closed || conn !== this.#conn) return;
      this.#nextNode = setTimeout(() => this.#connect(this.#pickNextNode()), backoff(ATTEMPTS_PER_NODE + 1));
    });
  }

  #subscribe(conn: Redis): void {
    const learned = this.#target.cluster ? this.#learnNodes(conn) : Promise.resolve();
    learned.then(() => conn.subscribe(this.#channel)).then(
      () => {
        if (conn !== this.#conn) return;
        this.#subscribed = true;
        if (this.#everSubscribed) this.#events.resubscribed();
        this.#everSubscribed = true;
      },
      // SUBSCRIBE on a fresh connection failed (it dropped again): reconnect and try once more.
      () => conn.disconnect(true),
    );
  }

  /** Remembers the cluster's nodes, so the subscription can move on even if the seed nodes are gone. */
  async #learnNodes(conn: Redis): Promise<void> {
    try {
      const shards = await conn.cluster('SLOTS');
      for (const [, , ...nodes] of shards) {
        for (const [host, port] of nodes) if (host !== '') this.#learned.set(`${host}:${port}`, { host, port });
      }
    } catch {
      // Not fatal: the seeds and the publisher's view remain.
    }
  }

  #pickNextNode(): Endpoint {
    const known = new Map<string, Endpoint>();
    for (const n of [...this.#target.nodes, ...this.#learned.values(), ...this.#discover()]) known.set(`${n.host}:${n.port}`, n);
    const nodes = [...known.values()];
    this.#nodeIndex = (this.#nodeIndex + 1) % nodes.length;
    return nodes[this.#nodeIndex]!;
  }
}
