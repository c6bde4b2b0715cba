'use strict';
// Decodes one message into the fields the store needs, following the envelope contract
// (shared CONTRACT.md §1): CloudEvents and the service envelope carry their own `id`; the
// customer-event envelope is identified by its Nats-Msg-Id header, else by the SHA-256 of the
// raw bytes. Throws on anything that is not one of the three dialects.
const crypto = require('node:crypto');

function describe(msg) {
  const text = Buffer.from(msg.data).toString('utf8');
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`not JSON: ${err.message}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new Error('not a JSON object');
  }
  if (doc.specversion !== undefined) {
    requireString(doc, 'id');
    requireString(doc, 'type');
    const data = doc.data && typeof doc.data === 'object' ? doc.data : {};
    return {
      id: doc.id,
      type: doc.type,
      customerId: doc.subject || data.customer_id || null,
      amount: amountOf(doc.type, data),
    };
  }
  if (doc.customer_id !== undefined && doc.event_type !== undefined) {
    requireString(doc, 'customer_id');
    requireString(doc, 'event_type');
    const header = msg.headers ? msg.headers.get('Nats-Msg-Id') : '';
    const id = header || crypto.createHash('sha256').update(msg.data).digest('hex');
    const data = doc.data && typeof doc.data === 'object' ? doc.data : {};
    return {
      id,
      type: doc.event_type,
      customerId: doc.customer_id,
      amount: doc.event_type === 'purchase' ? Number(data.amount ?? data.price ?? 0) : 0,
    };
  }
  if (doc.id !== undefined && doc.type !== undefined) {
    requireString(doc, 'id');
    requireString(doc, 'type');
    const data = doc.data && typeof doc.data === 'object' ? doc.data : {};
    return {id: doc.id, type: doc.type, customerId: data.customer_id || null,
            amount: amountOf(doc.type, data)};
  }
  throw new Error('no known envelope (need specversion, customer_id+event_type, or id+type)');
}

function requireString(doc, field) {
  if (typeof doc[field] !== 'string' || doc[field] === '') {
    throw new Error(`field '${field}' must be a non-empty string`);
  }
}

function amountOf(type, data) {
  if (type !== 'billing.purchase.completed') return 0;
  const amount = Number(data.amount ?? 0);
  return Number.isFinite(amount) ? amount : 0;
}

module.exports = {describe};
