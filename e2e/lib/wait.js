// Waiting helpers: every asynchronous effect is awaited with a deadline,
// never with a fixed sleep.

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// withTimeout rejects with a descriptive error when p does not settle in ms.
export function withTimeout(p, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

// waitFor polls fn until it returns a truthy value (or resolves to one) and
// returns it; the last thrown error is reported on timeout.
export async function waitFor(fn, { timeout = 5000, interval = 25, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = undefined;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    }
    await sleep(interval);
  }
}

// Recorder collects items and lets a test await the first one matching a predicate.
export class Recorder {
  constructor(name = 'events') {
    this.name = name;
    this.items = [];
    this.waiters = [];
  }

  push(item) {
    this.items.push(item);
    for (const w of [...this.waiters]) {
      if (w.pred(item)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(item);
      }
    }
  }

  find(pred) {
    return this.items.find(pred);
  }

  filter(pred) {
    return this.items.filter(pred);
  }

  // next resolves with the first item (already recorded or future) matching pred.
  next(pred = () => true, timeout = 5000, what = 'a matching item') {
    const found = this.items.find(pred);
    if (found) return Promise.resolve(found);
    let w;
    const p = new Promise((resolve) => {
      w = { pred, resolve };
      this.waiters.push(w);
    });
    return withTimeout(p, timeout, `${what} on ${this.name} (got: ${this.describe()})`).finally(() => {
      const i = this.waiters.indexOf(w);
      if (i >= 0) this.waiters.splice(i, 1);
    });
  }

  describe() {
    const s = JSON.stringify(this.items.slice(-8));
    return s.length > 1500 ? s.slice(0, 1500) + '…' : s;
  }
}

let counter = 0;
// uid returns a name unique within the process (and very likely across runs).
export function uid(prefix = 'x') {
  counter++;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}
