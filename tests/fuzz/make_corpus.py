#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/ (formats: tests/fuzz/fuzz_targets.h).

The seeds come from the simulators' own output — an events.log of a run of every service,
dialect and message fault — plus the bad inputs the unit tests use, and a few hand-made shapes
(deep nesting, long fields, binary-mode headers). Regenerate after changing the simulators or
the schemas:

    build/harness/ingestlab run tests/fuzz/corpus-source.yaml --epoch 1765535400000 --out /tmp/cs
    tests/fuzz/make_corpus.py /tmp/cs/corpus-source-7/events.log

Only corpus/ is rewritten; regressions/ is kept as it is.
"""
import base64
import collections
import gzip
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")

CUSTOMER_TYPES = {
    "purchase": "customer.purchase.recorded", "support_ticket": "customer.ticket.opened",
    "repair": "customer.repair.requested", "contact": "customer.contact.recorded",
    "profile_update": "customer.profile.updated", "note": "customer.note.added",
}
KNOWN_DOMAINS = {"billing", "support", "auth", "learning", "homework", "recommendation", "focus",
                 "crm", "customer"}


def write(target, name, data):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(CORPUS, target, name), "wb") as f:
        f.write(data)


def message(transport, subject, headers, payload):
    """The envelope target's format."""
    if isinstance(payload, str):
        payload = payload.encode()
    head = f"{transport} {subject}\n" + "".join(f"{k}: {v}\n" for k, v in headers) + "\n"
    return head.encode() + payload


def dialect(payload):
    try:
        j = json.loads(payload)
    except ValueError:
        return "malformed"
    if not isinstance(j, dict):
        return "other"
    if "specversion" in j:
        return "cloudevents"
    if "customer_id" in j and "event_type" in j:
        return "customer"
    if "id" in j and "type" in j and "organization_id" in j:
        return "service"
    return "other"


def canonical(j, subject):
    """(type, version, data) of a decodable payload, as ingestd derives them."""
    if "specversion" in j:
        t, v = j.get("type"), j.get("schemaversion", "1")
    elif "event_type" in j:
        return CUSTOMER_TYPES.get(j["event_type"], "customer.event.recorded"), 1, j.get("data")
    else:
        t, v = j.get("type"), j.get("schema_version", "1")
    if not isinstance(t, str):
        return None
    if t.split(".")[0] not in KNOWN_DOMAINS and subject.split(".")[0] in KNOWN_DOMAINS:
        t = subject.split(".")[0] + "." + t
    try:
        version = int(float(v))
    except (TypeError, ValueError):
        return None
    return t, version, j.get("data")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    records = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
    header, publishes = records[0], [r for r in records if r["kind"] == "publish"]
    for r in publishes:
        r["payload"] = base64.b64decode(r["payload_b64"])
    shutil.rmtree(CORPUS, ignore_errors=True)

    # ---- envelope: each (transport, dialect, expected outcome) of the run, twice ----
    seen = collections.Counter()
    for r in publishes:
        key = (r["transport"], dialect(r["payload"]), r["expected"].replace("dead_letter:", "dl-"))
        if seen[key] >= 2:
            continue
        seen[key] += 1
        transport = "kafka" if r["transport"] == "kafka" else "jetstream"
        write("envelope", "sim-" + "-".join(key) + f"-{seen[key]}",
              message(transport, r["subject"], sorted(r["headers"].items()), r["payload"]))
    # CloudEvents binary mode (Kafka): headers carry the attributes, the value is the data.
    binary = [("ce_specversion", "1.0"), ("ce_id", "k-1"), ("ce_source", "crm-service"),
              ("ce_type", "lead.created"), ("ce_time", "2025-12-12T10:30:00Z"),
              ("ce_subject", "L-1"), ("ce_orgid", "org-3"), ("ce_schemaversion", "2")]
    lead = '{"lead_id":"L-1","email":"lead@example.com","first_name":"Lee","last_name":"Park","score":87}'
    write("envelope", "binary-complete", message("kafka", "crm.leads", binary, lead))
    write("envelope", "binary-uppercase-names",
          message("kafka", "crm.leads", [("C" + k[1:], v) for k, v in binary], lead))
    write("envelope", "binary-no-type", message("kafka", "crm.leads", binary[:3] + binary[4:], lead))
    write("envelope", "binary-bad-time", message("kafka", "crm.leads",
          binary[:4] + [("ce_time", "12/12/2025")] + binary[5:], lead))
    write("envelope", "binary-bad-version", message("kafka", "crm.leads",
          binary[:7] + [("ce_schemaversion", "two")], lead))
    write("envelope", "binary-array-value", message("kafka", "crm.leads", binary, "[1]"))
    write("envelope", "binary-truncated-value", message("kafka", "crm.leads", binary, '{"lead_id":'))
    write("envelope", "binary-empty-value", message("kafka", "crm.leads", binary, " \n"))
    write("envelope", "binary-score-too-high", message("kafka", "crm.leads", binary,
          '{"lead_id":"L-1","email":"lead@example.com","score":187}'))
    # The unit tests' rejections.
    ce = '{"specversion":"1.0","id":"e","source":"s","type":"billing.invoice.paid"'
    bad = {
        "ce-specversion-0.3": '{"specversion":"0.3","id":"e","source":"s","type":"billing.invoice.paid"}',
        "ce-id-number": '{"specversion":"1.0","id":7,"source":"s","type":"billing.invoice.paid"}',
        "ce-time-yesterday": ce + ',"time":"yesterday"}',
        "ce-data-array": ce + ',"data":[1,2]}',
        "ce-data-base64": ce + ',"data_base64":"AAAA"}',
        "ce-schemaversion-two": ce + ',"schemaversion":"two"}',
        "customer-ms-timestamp": '{"customer_id":"c","event_type":"note","timestamp":1734134400000,"source_service":"x"}',
        "customer-fractional-seconds": '{"customer_id":"c1","event_type":"note","timestamp":1734134400.5,"source_service":"crm","data":{"organization_id":"org-9","note":"VIP"}}',
        "customer-total-string": '{"customer_id":"c","event_type":"purchase","timestamp":1,"source_service":"x","data":{"total":"lots"}}',
        "service-org-number": '{"id":"1","type":"user.deleted","organization_id":3,"source":"a","timestamp":"2025-12-12T10:30:00Z"}',
        "service-no-domain": '{"id":"1","type":"user.deleted","organization_id":"o","source":"a","timestamp":"2025-12-12T10:30:00Z","data":{"user_id":"u1"}}',
        "wrong-order-brackets": '{"a":[1}}',
        "unterminated-string": '{"a":"unterminated',
        "bom": "\ufeff" + ce + "}",
        "nested-65": ce + ',"data":{"x":' + "[" * 63 + "]" * 63 + "}}",
        "top-level-array": "[" + ce + "}]",
        "no-envelope": '{"hello":"world","n":1}',
    }
    for name, payload in bad.items():
        subject = "events.misc" if name == "service-no-domain" else "billing.x"
        write("envelope", "bad-" + name, message("jetstream", subject, [], payload))
    write("envelope", "bad-invalid-utf8", message("jetstream", "billing.x", [],
          ce.encode() + b',"source":"\xc3(\xff"}'))

    # ---- schema: one valid data object per (type, version), from the run where it has one ----
    schemas = {}
    for f in sorted(os.listdir(os.path.join(ROOT, "system", "schemas"))):
        if f.endswith(".json"):
            t, v = f[:-5].rsplit(".v", 1)
            schemas[(t, int(v))] = json.load(open(os.path.join(ROOT, "system", "schemas", f)))
    data_of = {}
    for r in publishes:
        if r["expected"] != "applied":
            continue
        try:
            j = json.loads(r["payload"])
        except ValueError:
            continue
        c = canonical(j, r["subject"])
        if c and isinstance(c[2], dict) and (c[0], c[1]) in schemas:
            data_of.setdefault((c[0], c[1]), c[2])
    for (t, v), schema in schemas.items():
        data = data_of.get((t, v)) or made_up(schema)
        text = json.dumps(data, separators=(",", ":"))
        # Binary mode for each; a structured CloudEvent for a few (the same Validate runs).
        structured = " structured" if t.startswith(("billing.", "crm.lead")) else ""
        write("schema", f"{t}.v{v}", f"{t} v{v}{structured}\n{text}")
    # Shapes each rule rejects.
    rejects = {
        "billing.purchase.completed v1": '{"purchase_id":"p","customer_id":"c","amount":-3,"currency":"usd","quantity":1.5}',
        "billing.customer.created v1": '{"customer_id":"c","email":"not-an-email"}',
        "billing.invoice.issued v1": '{"invoice_id":"i","customer_id":"c","amount":1,"due_date":"2024-13-45"}',
        "support.ticket.opened v1": '{"ticket_id":"t","customer_id":"c","title":"","priority":"whenever"}',
        "support.note.added v1": '{"customer_id":"c","note":"n","tags":["a",1]}',
        "learning.skill.mastered v1": '{"learner_id":"l","skill":"s","level":11}',
        "focus.ping v1": '{"session_id":"s","learner_id":"l","focused":"yes"}',
        "crm.lead.created v2": '{"lead_id":"L","email":"a@b.c","score":1e308}',
        "auth.user.login.failed v1": '{"reason":"user_not_found"}',
    }
    for i, (entry, data) in enumerate(rejects.items()):
        write("schema", f"reject-{i}-{entry.split()[0]}", f"{entry}\n{data}")
    write("schema", "reject-unicode-title", 'support.ticket.opened v1\n{"ticket_id":"t",'
          '"customer_id":"c","title":"' + "\u00e9\U0001F600" * 300 + '"}')
    # The known killer of a backtracking regex: a due_date with 200,000 fraction digits.
    write("schema", "killer-due-date-200k-digits",
          'billing.invoice.issued v1 structured\n{"invoice_id":"inv-1","customer_id":"c-1",'
          '"amount":10,"due_date":"2024-01-01T00:00:00.' + "1" * 200000 + 'Z"}')

    # ---- scenario: the suite's files, the unit tests' mistakes, odd YAML ----
    for d in ("scenarios", "scenarios/long"):
        for f in sorted(os.listdir(os.path.join(ROOT, d))):
            if f.endswith(".yaml"):
                write("scenario", f.replace(".yaml", ""), open(os.path.join(ROOT, d, f), "rb").read())
    write("scenario", "header-yaml", header["scenario_yaml"])
    mistakes = [
        "name: x\nduration: 10s\ndurration: 12s\n",
        "duration: 10s\nservices:\n  - name: billing\n    rat: 5\n",
        "duration: 10s\nservices:\n  - name: auth\n    faults: {duplicate: 1.5}\n",
        "duration: 10s\ntimeline:\n  - at: 20s\n    action: kill_nats\n",
        "duration: 10s\ntimeline:\n  - at: 2s\n    action: net_latency\n    params: {delay: 5ms}\n",
        "duration: 10s\nassertions:\n  - latency: {p99: 5}\n",
        "duration: 10s\nservices: [\n",
        "duration: 1m30s\ndrain_timeout: 250ms\nservices:\n  - {name: crm, shape: 'spike:500:2:1'}\n"
        "  - {name: billing, shape: 'ramp:10:50:5s'}\n",
        "duration: 10s\ntimeline:\n  - {at: 1s, action: set_rate, target: billing, params: {rate: 5}}\n"
        "  - {at: 2s, action: hold_db_lock, for: 1s}\n  - {at: 3s, action: net_cut, target: nats-0,"
        " params: {mode: blackhole}, for: 500ms}\n",
        "a: &x [1, 2]\nb: *x\nduration: *x\n",
        "duration: 10s\ntopology: {ingestd: {count: 2, settings: {busy_timeout_ms: 50, nats: x}}}\n",
        "duration: 10s\nservices: " + "[" * 200 + "]" * 200 + "\n",
    ]
    for i, text in enumerate(mistakes):
        write("scenario", f"case-{i:02d}", text)

    # ---- event_log: small logs cut from the run, with faults, a sidecar, gzip, damage ----
    head = json.dumps(header, separators=(",", ":"))
    lines = [json.dumps({k: v for k, v in r.items() if k != "payload"}, separators=(",", ":"))
             for r in publishes[:40]]
    fault = ('{"kind":"fault","offset_ms":2000,"action":"kill_ingestd","target":"ingestd-0",'
             '"params":{}}')
    undo = ('{"kind":"fault","offset_ms":3000,"action":"undo_net_latency","target":"nats-0",'
            '"params":{"latency":"20ms","jitter":"5ms"}}')
    for i in range(6):
        chunk = lines[i * 6:(i + 1) * 6]
        text = "\n".join([head] + chunk[:3] + [fault if i % 2 else undo] + chunk[3:]) + "\n"
        write("event_log", f"sim-{i}", text)
    acks = "".join(json.dumps({"service": r["service"], "msg": r.get("msg", r["seq"]),
                               "published_ms": r["offset_ms"] + 3, "acked": i % 5 != 0,
                               "error": None if i % 5 else "timeout"},
                              separators=(",", ":")) + "\n"
                   for i, r in enumerate(publishes[:6]))
    base = "\n".join([head] + lines[:6]) + "\n"
    write("event_log", "with-acks", base + "#acks\n" + '{"kind":"run","started_at_ms":1765535400000}\n' + acks)
    write("event_log", "gzip", gzip.compress(base.encode(), mtime=0))
    write("event_log", "gzip-cut", gzip.compress(base.encode(), mtime=0)[:300])
    write("event_log", "cut-mid-line", base[:-40])
    write("event_log", "header-only", head + "\n")
    write("event_log", "old-format-outcomes", head + "\n" + lines[0][:-1] +
          ',"scheduled_ms":5,"published_ms":9,"acked":false,"publish_error":"nats: timeout"}\n')
    write("event_log", "bad-no-header", "\n".join(lines[:3]) + "\n")
    write("event_log", "bad-format-2", head.replace('"format":1', '"format":2') + "\n")
    write("event_log", "bad-base64", head + "\n" + lines[0].replace('"payload_b64":"', '"payload_b64":"!!') + "\n")
    write("event_log", "bad-kind", head + '\n{"kind":"mystery","offset_ms":1}\n')
    write("event_log", "deep-params", head + '\n{"kind":"fault","offset_ms":1,"action":"x","params":{"p":' +
          "[" * 100 + "]" * 100 + "}}\n")

    # ---- import: kcat -J lines made from the run's messages, and JetStream messages ----
    kcat = []
    for i, r in enumerate(p for p in publishes if p["transport"] == "kafka"):
        if i >= 12:
            break
        hdrs = []
        for k, v in sorted(r["headers"].items()):
            hdrs += [k, v]
        kcat.append(json.dumps({"topic": r["subject"], "partition": 0, "offset": i,
                                "tstype": "create", "ts": 1765535400000 + r["offset_ms"],
                                "broker": 1, "headers": hdrs, "key": r["key"] or None,
                                "payload": r["payload"].decode("utf-8", "replace")},
                               separators=(",", ":"), ensure_ascii=False))
    for i in range(4):
        write("import", f"kcat-{i}", "\n".join(kcat[i * 3:(i + 1) * 3]) + "\n")
    binary_line = ('{"topic":"crm.leads","partition":2,"offset":9,"tstype":"create","ts":1765535401000,'
                   '"broker":1,"headers":["ce_specversion","1.0","ce_id","k-1","ce_type","lead.created",'
                   '"ce_source","crm"],"key":"L-1","payload":' + json.dumps(lead) + "}")
    write("import", "kcat-binary-mode", binary_line + "\n")
    write("import", "kcat-raw-bytes", b'{"topic":"t","partition":0,"offset":1,"ts":5,"key":null,'
          b'"headers":null,"payload":"\xff\xfe raw \x01 bytes"}\n')
    write("import", "kcat-end-of-topic", kcat[0] + "\n% Reached end of topic crm.leads [0] at offset 1\n")
    write("import", "kcat-ts-backwards", kcat[1] + "\n" + kcat[0] + "\n" +
          kcat[2].replace('"ts":', '"ts":-') + "\n")
    write("import", "kcat-bad", '{"topic":5}\n{"topic":"t","ts":1.5}\n{"topic":"t","headers":[1,"x"]}\n'
          '{"topic":"t","payload":"\\ud800\\udc00 \\u00e9"}\n' + "[" * 20 + "]" * 20 + "\n")
    js = [r for r in publishes if r["transport"] == "jetstream"]
    for i, r in enumerate(js[:6]):
        reply = f"$JS.ACK.STREAM.import-c.1.{100 + i}.{i + 1}.{1765535400000000000 + i * 1000000}.{5 - i}"
        if i % 3 == 2:
            reply = f"$JS.ACK.hub.ACCOUNTHASH.STREAM.c.1.{100 + i}.{i + 1}.1765535400000000000.0.tok"
        write("import", f"jetstream-{i}", message("jetstream", reply, sorted(r["headers"].items()),
                                                   r["payload"]))
    write("import", "jetstream-status", message("jetstream", "_INBOX.abc",
                                                [("Status", "409"), ("Description", "Consumer Deleted")], ""))
    write("import", "jetstream-customer-no-id", message("jetstream",
          "$JS.ACK.S.c.1.1.1.1765535400000000000.0", [],
          '{"customer_id":"c","event_type":"note","timestamp":1,"source_service":"x"}'))
    write("import", "name-odd", 'imp/ort "x" \u00e9\u0080\u2028 \ud7ff\n{"topic":"t"}\n')


def made_up(schema):
    """A data object satisfying the schema's required fields (for types the run did not send)."""
    out = {}
    props = schema.get("properties", {})
    for name in schema.get("required", []) + list(props)[:3]:
        p = props.get(name, {})
        t = p.get("type")
        t = t[0] if isinstance(t, list) else t
        if "enum" in p:
            out[name] = p["enum"][0]
        elif t == "string":
            out[name] = "a@example.com" if p.get("format") == "email" else f"{name}-1"
        elif t in ("number", "integer"):
            out[name] = max(1, p.get("minimum", 1))
        elif t == "boolean":
            out[name] = True
        elif t == "array":
            out[name] = ["x"]
        elif t == "object":
            out[name] = {}
        else:
            out[name] = f"{name}-1"
    return out


if __name__ == "__main__":
    main()
