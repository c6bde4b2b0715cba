'use strict';
// The same consumer on a JetStream durable pull consumer: the stream keeps what is published
// while this process is down, an event is acknowledged only after the store has it on disk, and
// an event id already in the store is acknowledged without being applied again (a redelivery
// after a crash between the store write and the ack, or a copy published twice). Messages that
// are not a known envelope go to dlq.<subject> (stream DLQ) with the reason, then are acknowledged.
const {headers, nanos, AckPolicy, DeliverPolicy, StorageType} = require('nats');
const {describe} = require('./eventId');
const {openConnection} = require('./natsConnection');

class DurableSubscriber {
  // streams: [{name, subjects}]; durable: the consumer name shared by every instance.
  constructor({servers, streams, durable, name, store, log, ackWaitMs = 5000}) {
    Object.assign(this, {servers, streams, durable, name, store, log, ackWaitMs});
    this.stats = {received: 0, processed: 0, duplicates: 0, dead_lettered: 0, errors: 0};
    this.loops = [];
  }

  async start() {
    this.link = await openConnection({servers: this.servers, name: this.name, log: this.log,
                                      stats: this.stats});
    this.nc = this.link.nc;
    const jsm = await this.nc.jetstreamManager();
    const js = this.nc.jetstream();
    await ensureStream(jsm, {name: 'DLQ', subjects: ['dlq.>']});
    for (const stream of this.streams) {
      await ensureStream(jsm, stream);
      await jsm.consumers.add(stream.name, {
        durable_name: this.durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(this.ackWaitMs),
        max_ack_pending: 1000,
      });
      const consumer = await js.consumers.get(stream.name, this.durable);
      const messages = await consumer.consume({max_messages: 256});
      this.loops.push({messages, done: this.#run(messages)});
    }
    this.log(`consuming ${this.streams.map((s) => s.name).join(', ')} as ${this.durable}`);
  }

  get connected() { return Boolean(this.link && this.link.connected); }

  async stop() {
    for (const loop of this.loops) loop.messages.stop();
    await Promise.all(this.loops.map((l) => l.done));
    if (this.nc) await this.nc.drain();
  }

  async #run(messages) {
    for await (const m of messages) {
      this.stats.received += 1;
      let event;
      try {
        event = describe(m);
      } catch (e) {
        await this.#deadLetter(m, e.message);
        continue;
      }
      try {
        if (this.store.has(event.id)) {
          this.stats.duplicates += 1;
        } else {
          this.store.apply(event);
          this.stats.processed += 1;
        }
        m.ack();
      } catch (e) {
        // The store failed: no ack, so the stream delivers it again after the ack wait.
        this.stats.errors += 1;
        this.log(`store error on ${m.subject}: ${e.message}`);
      }
    }
  }

  async #deadLetter(m, reason) {
    const h = headers();
    h.set('Dlq-Reason', 'parse');
    h.set('Dlq-Error', reason.slice(0, 200));
    h.set('Dlq-Origin', m.subject);
    try {
      await this.nc.jetstream().publish(`dlq.${m.subject}`, m.data, {headers: h});
      m.ack();
      this.stats.dead_lettered += 1;
    } catch (e) {
      this.stats.errors += 1;  // not acknowledged: redelivered, and dead-lettered then
      this.log(`dead-letter publish failed: ${e.message}`);
    }
  }

}

// Creates the stream when it is missing; an existing one is used as it is.
async function ensureStream(jsm, {name, subjects}) {
  try {
    await jsm.streams.info(name);
  } catch (e) {
    if (!/stream not found/i.test(e.message)) throw e;
    await jsm.streams.add({name, subjects, storage: StorageType.File,
                           duplicate_window: nanos(120000)});
  }
}

module.exports = {DurableSubscriber};
