/**
 * Anti-entropy's comparison of the keys in the Merkle leaves that differ,
 * a LeafEntries page at a time. Both replicas list their entries in record
 * key order, so the two lists are merged like sorted runs: only the current
 * page of each side is held, never a whole leaf's keys (a shard of millions
 * of records that one replica lacks would not fit one message, nor memory).
 *
 * A replica of an earlier release answers every entry in one reply without
 * `next`; the cursor reads it as the only page, as before.
 */
import { SluiceError } from '../../core/errors.ts';
import type { LeafEntriesReply, LeafEntry } from '../transport/replica-messages.ts';

/** Asks one replica for the page of entries after `after` (from the start when absent). */
export type LeafPageFetch = (after: Buffer | undefined) => Promise<LeafEntriesReply>;

/**
 * One key that one side holds newer than the other (or holds and the other
 * lacks), or ('tie') that both hold at one version with different extras
 * (summary 2: value digests, decision 56), which only the records can order.
 */
export interface NewerEntry {
  readonly newer: 'mine' | 'theirs' | 'tie';
  readonly key: Buffer;
  /** The newer side's third element (a dedupe-key entry's record key), when its entries have one. */
  readonly extra?: Buffer;
}

/** A cursor's current entry: key, version and the optional third element. */
type Peeked = readonly [Buffer, bigint, Buffer | undefined];

/** One replica's entries in key order, fetched a page at a time as they are used. */
export class LeafCursor {
  readonly #fetch: LeafPageFetch;
  readonly #node: string;
  #page: LeafEntry[] = [];
  #at = 0;
  /** The `next` of the last page, which the following page starts after. */
  #after: Buffer | undefined;
  /** The greatest key seen so far: every later one must be greater (a page out of order would pair keys wrongly). */
  #floor: Buffer | undefined;
  #done = false;

  /** A cursor over the pages `fetch` returns from `node` (named in errors). */
  constructor(node: string, fetch: LeafPageFetch) {
    this.#node = node;
    this.#fetch = fetch;
  }

  /** The current entry as [key, version, extra], or undefined once every page is used up. */
  async peek(): Promise<Peeked | undefined> {
    while (this.#at >= this.#page.length) {
      if (this.#done) return undefined;
      await this.#load();
    }
    const [key, version, extra] = this.#page[this.#at] as LeafEntry;
    return [key, BigInt(version), extra];
  }

  /** Moves past the current entry. */
  take(): void {
    this.#at++;
  }

  async #load(): Promise<void> {
    const { entries, next } = await this.#fetch(this.#after);
    for (const [key] of entries) {
      if (this.#floor !== undefined && Buffer.compare(key, this.#floor) <= 0) throw this.#refuse('its keys are not in ascending order across pages');
      this.#floor = key;
    }
    if (next !== undefined && this.#after !== undefined && Buffer.compare(next, this.#after) <= 0) throw this.#refuse('its next key does not move on');
    this.#page = entries;
    this.#at = 0;
    if (next === undefined) this.#done = true;
    else this.#after = next;
  }

  #refuse(what: string): SluiceError {
    return new SluiceError('REPLICA_PROTOCOL', `replica ${this.#node}: LeafEntries reply refused: ${what}`);
  }
}

/**
 * The keys one side holds newer than the other, or alone, in key order:
 * a merge of the two sorted lists that fetches a page of either only when
 * the merge reaches it. A caller may copy what it got before asking for
 * more: a copied key is at or before both cursors' current pages, so no
 * later page lists it.
 */
export async function* newerEntries(mine: LeafCursor, theirs: LeafCursor): AsyncGenerator<NewerEntry> {
  for (;;) {
    const a = await mine.peek();
    const b = await theirs.peek();
    if (a === undefined && b === undefined) return;
    const order = a === undefined ? 1 : b === undefined ? -1 : Buffer.compare(a[0], b[0]);
    if (order < 0) {
      mine.take();
      yield newerOf('mine', a as Peeked);
    } else if (order > 0) {
      theirs.take();
      yield newerOf('theirs', b as Peeked);
    } else {
      mine.take();
      theirs.take();
      const [key, versionMine, extraMine] = a as Peeked;
      const [, versionTheirs, extraTheirs] = b as Peeked;
      if (versionMine !== versionTheirs) yield versionMine > versionTheirs ? newerOf('mine', a as Peeked) : newerOf('theirs', b as Peeked);
      else if (extraMine !== undefined && extraTheirs !== undefined && !extraMine.equals(extraTheirs)) yield { newer: 'tie', key };
    }
  }
}

function newerOf(side: 'mine' | 'theirs', [key, , extra]: Peeked): NewerEntry {
  return extra === undefined ? { newer: side, key } : { newer: side, key, extra };
}
