'use strict';
// The consumer's own store: an append-only journal (one JSON line per applied event) with the
// folded state kept in memory and rebuilt from the journal at start. `durable: true` fsyncs each
// append before apply() returns, so an ack sent after it never covers an event a crash can lose.
const fs = require('node:fs');
const path = require('node:path');

class EventStore {
  constructor(file, {durable = false} = {}) {
    this.file = file;
    this.durable = durable;
    this.applied = new Map();    // event id → {count, firstAppliedMs}
    this.customers = new Map();  // customer id → {events, lifetimeValue}
    fs.mkdirSync(path.dirname(path.resolve(file)), {recursive: true});
    if (fs.existsSync(file)) this.#load();
    this.fd = fs.openSync(file, 'a');
  }

  has(id) { return this.applied.has(id); }

  // Records one application of `event` (an object from eventId.describe) and folds it.
  apply(event) {
    const record = {event_id: event.id, type: event.type, customer_id: event.customerId,
                    amount: event.amount, at_ms: Date.now()};
    fs.writeSync(this.fd, JSON.stringify(record) + '\n');
    if (this.durable) fs.fsyncSync(this.fd);
    this.#fold(record);
  }

  customer(id) { return this.customers.get(id) || null; }

  // One line per event id: {"event_id", "count", "committed_ms"} — the state probe's format.
  appliedLines() {
    let out = '';
    for (const [id, a] of this.applied) {
      out += JSON.stringify({event_id: id, count: a.count, committed_ms: a.firstAppliedMs}) + '\n';
    }
    return out;
  }

  close() { fs.closeSync(this.fd); }

  #load() {
    const text = fs.readFileSync(this.file, 'utf8');
    // A last line without its newline was cut short by a crash mid-write: the event was never
    // acknowledged, so the broker delivers it again (JetStream variant). Drop the fragment so the
    // next append starts a line of its own.
    const end = text.lastIndexOf('\n') + 1;
    if (end < text.length) fs.truncateSync(this.file, Buffer.byteLength(text.slice(0, end)));
    for (const line of text.slice(0, end).split('\n')) {
      if (line !== '') this.#fold(JSON.parse(line));
    }
  }

  #fold(r) {
    const a = this.applied.get(r.event_id);
    if (a) a.count += 1;
    else this.applied.set(r.event_id, {count: 1, firstAppliedMs: r.at_ms});
    if (!r.customer_id) return;
    const c = this.customers.get(r.customer_id) || {events: 0, lifetimeValue: 0};
    c.events += 1;
    c.lifetimeValue += r.amount || 0;
    this.customers.set(r.customer_id, c);
  }
}

module.exports = {EventStore};
