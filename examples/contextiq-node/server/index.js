'use strict';
// ContextIQ-style customer event consumer. Configuration from the environment:
//   NATS_URL           comma-separated server URLs            (default nats://127.0.0.1:4222)
//   MODE               core (seed 000's design) | jetstream  (default core)
//   NATS_SUBJECTS      core: comma-separated subject patterns (default customer.events.>)
//   NATS_QUEUE_GROUP   core: queue group                      (default contextiq-service)
//   STREAMS            jetstream: NAME=subject|subject,...    (default CUSTOMER=customer.events.>)
//   DURABLE            jetstream: durable consumer name      (default contextiq-service)
//   ACK_WAIT_MS        jetstream: redelivery after            (default 5000)
//   DB                 journal file                           (default ./contextiq.jsonl)
//   PORT               HTTP port on 127.0.0.1                 (default 8080)
// HTTP: GET /health (200 once consuming and connected, else 503), GET /applied (JSON lines
// {"event_id","count","committed_ms"}), GET /stats, GET /customers/{id}.
// SIGTERM / SIGINT: stop consuming, finish what is in hand, exit 0.
const http = require('node:http');
const {EventStore} = require('./eventStore');
const {NatsSubscriber} = require('./natsSubscriber');
const {DurableSubscriber} = require('./durableSubscriber');

function log(message) {
  process.stderr.write(`${new Date().toISOString()} contextiq[${process.pid}] ${message}\n`);
}

function config(env) {
  const list = (v) => v.split(',').map((s) => s.trim()).filter(Boolean);
  const mode = env.MODE || 'core';
  if (mode !== 'core' && mode !== 'jetstream') throw new Error(`MODE must be core or jetstream, got '${mode}'`);
  const port = Number(env.PORT || 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad PORT '${env.PORT}'`);
  const streams = list(env.STREAMS || 'CUSTOMER=customer.events.>').map((spec) => {
    const [name, subjects] = spec.split('=');
    if (!name || !subjects) throw new Error(`STREAMS entry '${spec}' is not NAME=subject|subject`);
    return {name, subjects: subjects.split('|')};
  });
  const ackWaitMs = Number(env.ACK_WAIT_MS || 5000);
  if (!(ackWaitMs > 0)) throw new Error(`bad ACK_WAIT_MS '${env.ACK_WAIT_MS}'`);
  return {
    mode,
    port,
    streams,
    ackWaitMs,
    servers: list(env.NATS_URL || 'nats://127.0.0.1:4222'),
    subjects: list(env.NATS_SUBJECTS || 'customer.events.>'),
    queue: env.NATS_QUEUE_GROUP || 'contextiq-service',
    durable: env.DURABLE || 'contextiq-service',
    db: env.DB || './contextiq.jsonl',
  };
}

function serve(port, store, subscriber) {
  const server = http.createServer((req, res) => {
    const send = (code, type, body) => {
      res.writeHead(code, {'content-type': type});
      res.end(body);
    };
    const url = new URL(req.url, 'http://localhost');
    if (req.method !== 'GET') return send(405, 'text/plain', 'GET only\n');
    if (url.pathname === '/health') {
      const ok = subscriber.connected;
      return send(ok ? 200 : 503, 'application/json',
                  JSON.stringify({status: ok ? 'ok' : 'disconnected'}) + '\n');
    }
    if (url.pathname === '/applied') return send(200, 'application/x-ndjson', store.appliedLines());
    if (url.pathname === '/stats') {
      return send(200, 'application/json', JSON.stringify(subscriber.stats) + '\n');
    }
    const m = /^\/customers\/([^/]+)$/.exec(url.pathname);
    if (m) {
      const c = store.customer(decodeURIComponent(m[1]));
      return c ? send(200, 'application/json', JSON.stringify(c) + '\n')
               : send(404, 'application/json', '{"error":"unknown customer"}\n');
    }
    return send(404, 'text/plain', 'not found\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

async function main() {
  const cfg = config(process.env);
  const store = new EventStore(cfg.db, {durable: cfg.mode === 'jetstream'});
  const name = `contextiq-${process.pid}`;
  const subscriber = cfg.mode === 'core'
      ? new NatsSubscriber({servers: cfg.servers, subjects: cfg.subjects, queue: cfg.queue,
                            name, store, log})
      : new DurableSubscriber({servers: cfg.servers, streams: cfg.streams, durable: cfg.durable,
                               ackWaitMs: cfg.ackWaitMs, name, store, log});
  await subscriber.start();
  const server = await serve(cfg.port, store, subscriber);
  log(`${cfg.mode} consumer ready on http://127.0.0.1:${server.address().port}`);
  let stopping = false;
  const stop = async (signal) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping`);
    await subscriber.stop();
    server.close();
    store.close();
    log(`stopped: ${JSON.stringify(subscriber.stats)}`);
    process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err) => {
  log(`fatal: ${err.message}`);
  process.exit(1);
});
