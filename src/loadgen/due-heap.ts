/**
 * Items that wait until a time of their own (retries pausing before they go
 * again), in a binary min-heap on that time: taking the ready ones costs
 * log n each, where scanning the whole list every 1 ms tick would cost the
 * generator its CPU under a retry storm (tens of thousands pausing).
 */

/** Something due at `notBeforeUs`. */
export interface Due {
  readonly notBeforeUs: number;
}

/** A min-heap of due items. */
export class DueHeap<T extends Due> {
  private readonly items: T[] = [];

  /** Items waiting. */
  get size(): number {
    return this.items.length;
  }

  /** Adds an item. */
  push(item: T): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((a[parent] as T).notBeforeUs <= item.notBeforeUs) break;
      a[i] = a[parent] as T;
      i = parent;
    }
    a[i] = item;
  }

  /** Removes and returns, earliest first, every item due at or before `nowUs`. */
  takeDue(nowUs: number): T[] {
    const due: T[] = [];
    while (this.items.length > 0 && (this.items[0] as T).notBeforeUs <= nowUs) due.push(this.pop());
    return due;
  }

  private pop(): T {
    const a = this.items;
    const top = a[0] as T;
    const last = a.pop() as T;
    if (a.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const child = r < a.length && (a[r] as T).notBeforeUs < (a[l] as T).notBeforeUs ? r : l;
      if ((a[child] as T).notBeforeUs >= last.notBeforeUs) break;
      a[i] = a[child] as T;
      i = child;
    }
    a[i] = last;
    return top;
  }
}
