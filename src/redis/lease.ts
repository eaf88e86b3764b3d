/**
 * Single ownership of one Redis's configuration when many sidecars share it:
 * a key holding the owner's token with an expiry (SET NX PX), renewed by the
 * owner, deleted on release only if it still holds the owner's own token
 * (compare-and-delete in Lua, so an owner whose lease already expired never
 * deletes the next owner's lease). A crashed owner's lease simply expires.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { REDIS_ERROR_CODES, RedisError } from './redis-errors';

// Renewal also TOUCHes the keys given after the lease (the journal of originals): under an allkeys-* eviction
// policy a key nobody reads is the first to go, and losing the originals would make rollback impossible.
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then if #KEYS > 1 then redis.call('TOUCH', unpack(KEYS, 2)) end return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export interface LeaseHolder {
  /** Who holds it (pod/host name and pid). */
  owner: string;
  /** Milliseconds until it expires unless renewed. */
  expiresInMs: number;
}

export class RedisLease {
  readonly key: string;
  /** Owner name plus a random nonce: two processes with one name never share a lease. */
  readonly token: string;
  private held = false;
  private timer: NodeJS.Timeout | undefined;
  private onLost: ((reason: string) => void) | undefined;

  constructor(
    private readonly client: Redis,
    keyPrefix: string,
    readonly owner: string,
    readonly ttlMs: number,
    onLost?: (reason: string) => void,
    /** Keys kept recently used while the lease is held (see RENEW). */
    private readonly touchKeys: string[] = [],
  ) {
    this.key = `${keyPrefix}:config-lease`;
    this.token = `${owner}#${randomBytes(6).toString('hex')}`;
    this.onLost = onLost;
  }

  get isHeld(): boolean {
    return this.held;
  }

  /** Takes the lease if it is free (or already ours); returns false when another sidecar holds it. */
  async tryAcquire(): Promise<boolean> {
    const set = await this.client.set(this.key, this.token, 'PX', this.ttlMs, 'NX');
    if (set === 'OK') {
      this.held = true;
      this.scheduleRenewal();
      return true;
    }
    // Ours already (a second acquire, or a renewal that raced): extend it.
    const renewed = Number(
      await this.client.eval(
        RENEW,
        1 + this.touchKeys.length,
        this.key,
        ...this.touchKeys,
        this.token,
        String(this.ttlMs),
      ),
    );
    this.held = renewed === 1;
    if (this.held) this.scheduleRenewal();
    return this.held;
  }

  /** Like tryAcquire, but says who holds the lease when it is not free. */
  async acquire(): Promise<void> {
    if (await this.tryAcquire()) return;
    const holder = await this.holder();
    const who = holder
      ? `${holder.owner}, for another ${Math.ceil(holder.expiresInMs / 1000)} s unless renewed`
      : 'another sidecar';
    throw new RedisError(
      REDIS_ERROR_CODES.leaseHeld,
      `another sidecar owns this Redis's configuration (${who}); only the owner changes or rolls back CONFIG. Stop that sidecar (it releases the lease on exit) or wait for the lease to expire`,
    );
  }

  async holder(): Promise<LeaseHolder | null> {
    const [token, pttl] = await Promise.all([this.client.get(this.key), this.client.pttl(this.key)]);
    if (token === null) return null;
    return { owner: token.replace(/#[0-9a-f]+$/, ''), expiresInMs: Math.max(0, pttl) };
  }

  /** Renews at a third of the TTL, so two missed renewals still keep the lease. */
  private scheduleRenewal(): void {
    const every = Math.max(100, Math.floor(this.ttlMs / 3));
    if (this.timer) {
      this.timer.refresh();
      return;
    }
    this.timer = setTimeout(() => void this.renew(), every);
    // A lease must never be the reason a sidecar (or a test) stays alive.
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    if (!this.held) return;
    let renewed = false;
    let reason = 'it expired or another sidecar took it over';
    try {
      renewed =
        Number(
          await this.client.eval(
            RENEW,
            1 + this.touchKeys.length,
            this.key,
            ...this.touchKeys,
            this.token,
            String(this.ttlMs),
          ),
        ) === 1;
    } catch (err) {
      reason = `renewal failed: ${(err as Error).message.split('\n')[0]}`;
    }
    if (renewed) {
      this.timer?.refresh();
      return;
    }
    this.held = false;
    this.stopTimer();
    this.onLost?.(reason);
  }

  private stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Stops renewing without touching Redis (the connection is gone); the lease expires by itself. */
  abandon(): void {
    this.stopTimer();
    if (this.held) this.onLost?.('the connection to Redis ended; the lease expires unless renewed');
    this.held = false;
  }

  /** Gives the lease up if it is still ours; a no-op otherwise. */
  async release(): Promise<void> {
    this.stopTimer();
    if (!this.held) return;
    this.held = false;
    await this.client.eval(RELEASE, 1, this.key, this.token);
  }
}
