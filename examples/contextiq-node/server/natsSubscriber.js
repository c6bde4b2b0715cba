'use strict';
// The subscriber as shared/seeds/000 describes it: core NATS, wildcard subjects, a queue group
// for load balancing, automatic reconnection, statistics, graceful shutdown. Each message is
// decoded and applied to the store at once. Core NATS delivers at most once: what is published
// while this process is down or disconnected is never seen, and nothing here de-duplicates.
const {openConnection} = require('./natsConnection');
const {describe} = require('./eventId');

class NatsSubscriber {
  constructor({servers, subjects, queue, name, store, log}) {
    Object.assign(this, {servers, subjects, queue, name, store, log});
    this.stats = {received: 0, processed: 0, errors: 0};
    this.subscriptions = [];
  }

  async start() {
    this.link = await openConnection({servers: this.servers, name: this.name, log: this.log,
                                      stats: this.stats});
    this.nc = this.link.nc;
    for (const subject of this.subjects) {
      this.subscriptions.push(this.nc.subscribe(subject, {
        queue: this.queue,
        callback: (err, msg) => this.#onMessage(err, msg),
      }));
    }
    await this.nc.flush();  // the server has the subscriptions before start() returns
    this.log(`subscribed to ${this.subjects.join(', ')} in queue group ${this.queue}`);
  }

  get connected() { return Boolean(this.link && this.link.connected); }

  async stop() {
    if (!this.nc) return;
    await this.nc.drain();  // delivers what the client already holds, then closes
  }

  #onMessage(err, msg) {
    if (err) {
      this.stats.errors += 1;
      this.log(`subscription error: ${err.message}`);
      return;
    }
    this.stats.received += 1;
    try {
      this.store.apply(describe(msg));
      this.stats.processed += 1;
    } catch (e) {
      this.stats.errors += 1;
      this.log(`dropped a message on ${msg.subject}: ${e.message}`);
    }
  }

}

module.exports = {NatsSubscriber};
