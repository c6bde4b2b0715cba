'use strict';
// One NATS connection with automatic reconnection (forever, 250 ms apart), its state and its
// counters, shared by both subscribers.
const {connect} = require('nats');

async function openConnection({servers, name, log, stats}) {
  stats.disconnects = 0;
  stats.reconnects = 0;
  const nc = await connect({
    servers,
    name,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: true,
  });
  const state = {nc, connected: true};
  (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        state.connected = false;
        stats.disconnects += 1;
        log(`disconnected from ${s.data}`);
      } else if (s.type === 'reconnect') {
        state.connected = true;
        stats.reconnects += 1;
        log(`reconnected to ${s.data}`);
      }
    }
  })();
  return state;
}

module.exports = {openConnection};
