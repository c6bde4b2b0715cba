// DDL and migrations of the store. See store_schema.h.
#include "system/store_schema.h"

#include <cstdio>
#include <string>

namespace ingestlab {
namespace {

// Version 1: every table of CONTRACT.md section 4. Times are unix milliseconds unless a column
// name says otherwise (warranty_expires is unix seconds as the producers send it).
constexpr const char kSchemaV1[] = R"sql(
CREATE TABLE events (
  event_id       TEXT PRIMARY KEY,
  type           TEXT NOT NULL,
  source         TEXT,
  org_id         TEXT,
  customer_id    TEXT,
  event_time     INTEGER NOT NULL,
  received_at    INTEGER NOT NULL,
  committed_at   INTEGER NOT NULL,
  attempts       INTEGER NOT NULL,
  payload        BLOB,
  origin         TEXT,
  dialect        TEXT,
  schema_version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX events_by_customer ON events(customer_id, event_time);

CREATE TABLE customers (
  customer_id        TEXT PRIMARY KEY,
  org_id             TEXT,
  email              TEXT,
  name               TEXT,
  phone              TEXT,
  company            TEXT,
  plan               TEXT,
  tags               TEXT,
  lifetime_value     REAL NOT NULL DEFAULT 0,
  created_at         INTEGER,
  updated_at         INTEGER,
  profile_event_time INTEGER,
  profile_event_id   TEXT
);
CREATE INDEX customers_by_email ON customers(email);

CREATE TABLE purchases (
  purchase_id      TEXT PRIMARY KEY,
  customer_id      TEXT,
  org_id           TEXT,
  event_id         TEXT,
  product_name     TEXT,
  product_sku      TEXT,
  quantity         INTEGER,
  price            REAL,
  amount           REAL NOT NULL DEFAULT 0,
  currency         TEXT,
  refunded_amount  REAL NOT NULL DEFAULT 0,
  refund_reason    TEXT,
  status           TEXT NOT NULL,
  warranty_expires INTEGER,
  purchased_at     INTEGER,
  refunded_at      INTEGER
);
CREATE INDEX purchases_by_customer ON purchases(customer_id);

CREATE TABLE invoices (
  invoice_id  TEXT PRIMARY KEY,
  customer_id TEXT,
  org_id      TEXT,
  amount      REAL NOT NULL DEFAULT 0,
  currency    TEXT,
  due_date    TEXT,
  status      TEXT NOT NULL,
  issued_at   INTEGER,
  paid_at     INTEGER,
  paid_amount REAL
);
CREATE INDEX invoices_by_customer ON invoices(customer_id);

CREATE TABLE subscriptions (
  subscription_id TEXT PRIMARY KEY,
  customer_id     TEXT,
  org_id          TEXT,
  plan            TEXT,
  status          TEXT NOT NULL,
  started_at      INTEGER,
  cancelled_at    INTEGER,
  cancel_reason   TEXT
);
CREATE INDEX subscriptions_by_customer ON subscriptions(customer_id);

CREATE TABLE tickets (
  ticket_id    TEXT PRIMARY KEY,
  customer_id  TEXT,
  org_id       TEXT,
  title        TEXT,
  description  TEXT,
  summary      TEXT,
  priority     TEXT NOT NULL DEFAULT 'medium',
  status       TEXT NOT NULL DEFAULT 'open',
  channel      TEXT,
  last_comment TEXT,
  resolution   TEXT,
  opened_at    INTEGER,
  updated_at   INTEGER,
  resolved_at  INTEGER
);
CREATE INDEX tickets_by_customer ON tickets(customer_id);

CREATE TABLE work_orders (
  work_order_id    TEXT PRIMARY KEY,
  customer_id      TEXT,
  org_id           TEXT,
  description      TEXT,
  summary          TEXT,
  priority         TEXT NOT NULL DEFAULT 'medium',
  status           TEXT NOT NULL DEFAULT 'open',
  assigned_to      TEXT,
  cost             REAL,
  resolution_notes TEXT,
  created_at       INTEGER,
  updated_at       INTEGER
);
CREATE INDEX work_orders_by_customer ON work_orders(customer_id);

CREATE TABLE knowledge (
  knowledge_id TEXT PRIMARY KEY,
  customer_id  TEXT,
  org_id       TEXT,
  note         TEXT NOT NULL,
  summary      TEXT,
  category     TEXT,
  importance   TEXT NOT NULL DEFAULT 'medium',
  tags         TEXT,
  source_type  TEXT,
  created_at   INTEGER
);
CREATE INDEX knowledge_by_customer ON knowledge(customer_id);

CREATE TABLE users (
  user_id            TEXT PRIMARY KEY,
  org_id             TEXT,
  email              TEXT,
  first_name         TEXT,
  last_name          TEXT,
  status             TEXT,
  created_at         INTEGER,
  deleted_at         INTEGER,
  last_login_at      INTEGER,
  login_count        INTEGER NOT NULL DEFAULT 0,
  failed_login_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX users_by_email ON users(email);

CREATE TABLE user_roles (
  user_id     TEXT NOT NULL,
  role_id     TEXT NOT NULL,
  role_name   TEXT,
  user_email  TEXT,
  org_id      TEXT,
  assigned_at INTEGER,
  PRIMARY KEY (user_id, role_id)
);

CREATE TABLE logins (
  event_id TEXT PRIMARY KEY,
  user_id  TEXT,
  email    TEXT,
  org_id   TEXT,
  ok       INTEGER NOT NULL,
  reason   TEXT,
  at       INTEGER NOT NULL
);
CREATE INDEX logins_by_user ON logins(user_id, at);

CREATE TABLE learning_sessions (
  session_id TEXT PRIMARY KEY,
  learner_id TEXT,
  org_id     TEXT,
  course     TEXT,
  device     TEXT,
  started_at INTEGER,
  ended_at   INTEGER,
  duration_s REAL
);
CREATE INDEX learning_sessions_by_learner ON learning_sessions(learner_id);

CREATE TABLE learning_activities (
  activity_id  TEXT PRIMARY KEY,
  session_id   TEXT,
  learner_id   TEXT,
  org_id       TEXT,
  skill        TEXT,
  score        REAL,
  duration_s   REAL,
  completed_at INTEGER
);
CREATE INDEX learning_activities_by_session ON learning_activities(session_id);

CREATE TABLE learner_skills (
  learner_id  TEXT NOT NULL,
  skill       TEXT NOT NULL,
  org_id      TEXT,
  level       INTEGER,
  mastered_at INTEGER,
  PRIMARY KEY (learner_id, skill)
);

CREATE TABLE homework (
  question_id TEXT PRIMARY KEY,
  learner_id  TEXT,
  org_id      TEXT,
  subject     TEXT,
  text        TEXT,
  answer      TEXT,
  asked_at    INTEGER,
  answered_at INTEGER
);

CREATE TABLE recommendations (
  recommendation_id TEXT PRIMARY KEY,
  learner_id        TEXT,
  org_id            TEXT,
  item              TEXT NOT NULL,
  reason            TEXT,
  created_at        INTEGER
);
CREATE INDEX recommendations_by_learner ON recommendations(learner_id);

CREATE TABLE focus_minutes (
  session_id    TEXT NOT NULL,
  minute        INTEGER NOT NULL,
  learner_id    TEXT,
  org_id        TEXT,
  pings         INTEGER NOT NULL DEFAULT 0,
  focused_pings INTEGER NOT NULL DEFAULT 0,
  idle_s        REAL NOT NULL DEFAULT 0,
  PRIMARY KEY (session_id, minute)
) WITHOUT ROWID;

CREATE TABLE crm_leads (
  lead_id        TEXT PRIMARY KEY,
  org_id         TEXT,
  event_date     TEXT NOT NULL,
  email          TEXT,
  name           TEXT,
  company        TEXT,
  lead_source    TEXT,
  status         TEXT NOT NULL DEFAULT 'new',
  score          INTEGER,
  contact_id     TEXT,
  opportunity_id TEXT,
  schema_version INTEGER,
  created_at     INTEGER,
  updated_at     INTEGER,
  converted_at   INTEGER
);
CREATE INDEX crm_leads_by_org_date ON crm_leads(org_id, event_date);

CREATE TABLE crm_contacts (
  contact_id TEXT PRIMARY KEY,
  org_id     TEXT,
  event_date TEXT NOT NULL,
  email      TEXT,
  name       TEXT,
  phone      TEXT,
  company    TEXT,
  lead_id    TEXT,
  created_at INTEGER,
  updated_at INTEGER
);
CREATE INDEX crm_contacts_by_org_date ON crm_contacts(org_id, event_date);

CREATE TABLE crm_opportunities (
  opportunity_id TEXT PRIMARY KEY,
  org_id         TEXT,
  event_date     TEXT NOT NULL,
  contact_id     TEXT,
  name           TEXT,
  amount         REAL,
  stage          TEXT,
  status         TEXT NOT NULL DEFAULT 'open',
  close_reason   TEXT,
  created_at     INTEGER,
  updated_at     INTEGER,
  closed_at      INTEGER
);
CREATE INDEX crm_opportunities_by_org_date ON crm_opportunities(org_id, event_date);

CREATE TABLE dead_letters (
  id       INTEGER PRIMARY KEY,
  origin   TEXT NOT NULL UNIQUE,
  subject  TEXT,
  reason   TEXT NOT NULL,
  error    TEXT,
  attempts INTEGER NOT NULL,
  payload  BLOB,
  headers  TEXT,
  dead_at  INTEGER NOT NULL
);
CREATE INDEX dead_letters_by_reason ON dead_letters(reason, dead_at);

-- Full-text search. External-content FTS5 tables index the base tables' text columns; the
-- triggers below keep them in step on insert, update and delete. Query with MATCH and join
-- back on rowid (docs/tables.md).
CREATE VIRTUAL TABLE customers_fts USING fts5(
  name, email, company, content='customers', content_rowid='rowid');
CREATE VIRTUAL TABLE tickets_fts USING fts5(
  title, description, content='tickets', content_rowid='rowid');
CREATE VIRTUAL TABLE knowledge_fts USING fts5(
  note, summary, content='knowledge', content_rowid='rowid');

CREATE TRIGGER customers_fts_insert AFTER INSERT ON customers BEGIN
  INSERT INTO customers_fts(rowid, name, email, company)
  VALUES (new.rowid, new.name, new.email, new.company);
END;
CREATE TRIGGER customers_fts_delete AFTER DELETE ON customers BEGIN
  INSERT INTO customers_fts(customers_fts, rowid, name, email, company)
  VALUES ('delete', old.rowid, old.name, old.email, old.company);
END;
CREATE TRIGGER customers_fts_update AFTER UPDATE ON customers
WHEN old.name IS NOT new.name OR old.email IS NOT new.email OR old.company IS NOT new.company
BEGIN
  INSERT INTO customers_fts(customers_fts, rowid, name, email, company)
  VALUES ('delete', old.rowid, old.name, old.email, old.company);
  INSERT INTO customers_fts(rowid, name, email, company)
  VALUES (new.rowid, new.name, new.email, new.company);
END;

CREATE TRIGGER tickets_fts_insert AFTER INSERT ON tickets BEGIN
  INSERT INTO tickets_fts(rowid, title, description)
  VALUES (new.rowid, new.title, new.description);
END;
CREATE TRIGGER tickets_fts_delete AFTER DELETE ON tickets BEGIN
  INSERT INTO tickets_fts(tickets_fts, rowid, title, description)
  VALUES ('delete', old.rowid, old.title, old.description);
END;
CREATE TRIGGER tickets_fts_update AFTER UPDATE ON tickets
WHEN old.title IS NOT new.title OR old.description IS NOT new.description
BEGIN
  INSERT INTO tickets_fts(tickets_fts, rowid, title, description)
  VALUES ('delete', old.rowid, old.title, old.description);
  INSERT INTO tickets_fts(rowid, title, description)
  VALUES (new.rowid, new.title, new.description);
END;

CREATE TRIGGER knowledge_fts_insert AFTER INSERT ON knowledge BEGIN
  INSERT INTO knowledge_fts(rowid, note, summary) VALUES (new.rowid, new.note, new.summary);
END;
CREATE TRIGGER knowledge_fts_delete AFTER DELETE ON knowledge BEGIN
  INSERT INTO knowledge_fts(knowledge_fts, rowid, note, summary)
  VALUES ('delete', old.rowid, old.note, old.summary);
END;
CREATE TRIGGER knowledge_fts_update AFTER UPDATE ON knowledge
WHEN old.note IS NOT new.note OR old.summary IS NOT new.summary
BEGIN
  INSERT INTO knowledge_fts(knowledge_fts, rowid, note, summary)
  VALUES ('delete', old.rowid, old.note, old.summary);
  INSERT INTO knowledge_fts(rowid, note, summary) VALUES (new.rowid, new.note, new.summary);
END;
)sql";

// Version 2: the origins of messages already counted as producer-side duplicates. The events row
// keeps only the origin that applied the id, so without this a broker replay of a duplicate
// message (Kafka seek-back after a kRetry, a lost JetStream ack) looked like a new duplicate and
// inflated ingest_duplicates_total; with it a replayed duplicate counts as a redelivery.
constexpr const char kSchemaV2[] = R"sql(
CREATE TABLE duplicate_origins (
  origin   TEXT PRIMARY KEY,
  event_id TEXT NOT NULL
) WITHOUT ROWID;
)sql";

// Version 3: when a dead letter reached the DLQ. A replayed dead letter (Kafka seek-back, lost
// JetStream ack) whose row has published_at is only acked; one without (the process died, or
// the publish failed, between the row's commit and the DLQ) is published again. Rows from
// version 2 are left NULL: unknown, so a replay publishes them once more.
constexpr const char kSchemaV3[] = R"sql(
ALTER TABLE dead_letters ADD COLUMN published_at INTEGER;
)sql";

// Version 4: crash accounting (store.h, "Crash accounting"). in_flight holds, per ingestd
// (--name), the origins of the transaction it is applying; it is written and committed before
// that transaction and deleted inside it, so a row that survives a restart names the messages the
// process died with. crash_suspects counts, per origin, the crashes it was in flight for.
constexpr const char kSchemaV4[] = R"sql(
CREATE TABLE in_flight (
  owner      TEXT PRIMARY KEY,
  origins    TEXT NOT NULL,
  started_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE crash_suspects (
  origin        TEXT PRIMARY KEY,
  crashes       INTEGER NOT NULL,
  last_crash_at INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

// Version 5: a message's own failures (store.h, "Failures"). A message that fails for a reason of
// its own (an event it depends on is not applied yet, a handler rejects it) has a row here with
// the count, written in the transaction that decided to retry it; the row goes in the
// transaction that settles it. Deliveries the infrastructure caused (a locked or full store, a
// restart, a broker's redelivery) are never counted, so they cannot dead-letter a valid event.
constexpr const char kSchemaV5[] = R"sql(
CREATE TABLE message_failures (
  origin          TEXT PRIMARY KEY,
  failures        INTEGER NOT NULL,
  last_error      TEXT,
  first_failed_at INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
) WITHOUT ROWID;

-- dead_letters becomes the DLQ outbox (system/dead_letter_outbox.h): a row with published_at
-- NULL is still to be published, in id order, by the outbox publisher; msg_key is the Kafka
-- key the DLQ copy carries; publish_error says why the DLQ refused it for good. A dead letter is
-- known by its origin AND the digest of its payload: after a stream or topic is deleted and
-- recreated its sequence numbers start again, and a new poison message at a reused origin is
-- another dead letter. Rows from before have digest '' and match any payload at their origin.
CREATE TABLE dead_letters_v5 (
  id            INTEGER PRIMARY KEY,
  origin        TEXT NOT NULL,
  subject       TEXT,
  reason        TEXT NOT NULL,
  error         TEXT,
  attempts      INTEGER NOT NULL,
  payload       BLOB,
  headers       TEXT,
  dead_at       INTEGER NOT NULL,
  published_at  INTEGER,
  msg_key       BLOB,
  digest        TEXT NOT NULL DEFAULT '',
  publish_error TEXT,
  UNIQUE (origin, digest)
);
INSERT INTO dead_letters_v5(id, origin, subject, reason, error, attempts, payload, headers,
                            dead_at, published_at)
  SELECT id, origin, subject, reason, error, attempts, payload, headers, dead_at, published_at
  FROM dead_letters;
DROP TABLE dead_letters;
ALTER TABLE dead_letters_v5 RENAME TO dead_letters;
CREATE INDEX dead_letters_by_reason ON dead_letters(reason, dead_at);
CREATE INDEX dead_letters_unpublished ON dead_letters(id) WHERE published_at IS NULL;
)sql";

// Version 6: last writer wins per field, not per row. Each updatable field of a ticket or work
// order carries the event time of the value it holds; an update changes a field only if it is
// at least as new as that field's value. With one updated_at for the whole row, a late update
// older than a newer event that touched OTHER fields (an update held by a paused consumer while
// the ticket was resolved) was dropped entirely, and its priority or comment lost. Existing rows
// start with every field stamped with their updated_at.
constexpr const char kSchemaV6[] = R"sql(
ALTER TABLE tickets ADD COLUMN status_at INTEGER;
ALTER TABLE tickets ADD COLUMN priority_at INTEGER;
ALTER TABLE tickets ADD COLUMN comment_at INTEGER;
UPDATE tickets SET status_at = updated_at, priority_at = updated_at, comment_at = updated_at;
ALTER TABLE work_orders ADD COLUMN status_at INTEGER;
ALTER TABLE work_orders ADD COLUMN cost_at INTEGER;
ALTER TABLE work_orders ADD COLUMN notes_at INTEGER;
ALTER TABLE work_orders ADD COLUMN assigned_at INTEGER;
UPDATE work_orders SET status_at = updated_at, cost_at = updated_at, notes_at = updated_at,
                       assigned_at = updated_at;
)sql";

// migrations[i] moves a database from user_version i to i+1.
constexpr const char* kMigrations[] = {kSchemaV1, kSchemaV2, kSchemaV3,
                                       kSchemaV4, kSchemaV5, kSchemaV6};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kStoreSchemaVersion);

Status Exec(sqlite3* db, const char* sql, const char* what) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::Ok();
  std::string message = std::string(what) + ": " + (err ? err : sqlite3_errstr(rc));
  sqlite3_free(err);
  if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) return Status::Transient(message);
  return Status::Io(message);
}

Result<int> UserVersion(sqlite3* db) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return Status::Io(std::string("read user_version: ") + sqlite3_errmsg(db));
  rc = sqlite3_step(stmt);
  const int version = rc == SQLITE_ROW ? sqlite3_column_int(stmt, 0) : -1;
  sqlite3_finalize(stmt);
  if (version < 0) {
    const std::string message = std::string("read user_version: ") + sqlite3_errmsg(db);
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) return Status::Transient(message);
    return Status::Io(message);
  }
  return version;
}

}  // namespace

Status EnsureStoreSchema(sqlite3* db) {
  auto version = UserVersion(db);
  if (!version.ok()) return version.status();
  if (*version == kStoreSchemaVersion) return Status::Ok();
  if (*version > kStoreSchemaVersion) {
    return Status::InvalidArgument("database schema version " + std::to_string(*version) +
                                   " is newer than this ingestd's " +
                                   std::to_string(kStoreSchemaVersion));
  }
  // IMMEDIATE: two processes opening a fresh file at once serialise here; the loser re-reads
  // the version inside its transaction and finds nothing to do.
  INGEST_RETURN_IF_ERROR(Exec(db, "BEGIN IMMEDIATE", "begin migration"));
  auto current = UserVersion(db);
  if (!current.ok()) {
    Exec(db, "ROLLBACK", "rollback migration");
    return current.status();
  }
  for (int v = *current; v < kStoreSchemaVersion; ++v) {
    Status st = Exec(db, kMigrations[v], "migrate schema");
    if (st.ok()) {
      const std::string bump = "PRAGMA user_version = " + std::to_string(v + 1);
      st = Exec(db, bump.c_str(), "set user_version");
    }
    if (!st.ok()) {
      Exec(db, "ROLLBACK", "rollback migration");
      return st.Annotate("schema version " + std::to_string(v) + " -> " + std::to_string(v + 1));
    }
  }
  return Exec(db, "COMMIT", "commit migration");
}

const char* StoreMigration(int from) { return kMigrations[from]; }

const std::vector<DigestTable>& DigestTables() {
  static const std::vector<DigestTable> tables = {
      {"customers", "customer_id"},
      {"purchases", "purchase_id"},
      {"invoices", "invoice_id"},
      {"subscriptions", "subscription_id"},
      {"tickets", "ticket_id"},
      {"work_orders", "work_order_id"},
      {"knowledge", "knowledge_id"},
      {"users", "user_id"},
      {"user_roles", "user_id, role_id"},
      {"logins", "event_id"},
      {"learning_sessions", "session_id"},
      {"learning_activities", "activity_id"},
      {"learner_skills", "learner_id, skill"},
      {"homework", "question_id"},
      {"recommendations", "recommendation_id"},
      {"focus_minutes", "session_id, minute"},
      {"crm_leads", "lead_id"},
      {"crm_contacts", "contact_id"},
      {"crm_opportunities", "opportunity_id"},
  };
  return tables;
}

const std::vector<PartitionedTable>& PartitionedTables() {
  static const std::vector<PartitionedTable> tables = {
      {"crm_leads", "lead_id", "crm_lead_keys"},
      {"crm_contacts", "contact_id", "crm_contact_keys"},
      {"crm_opportunities", "opportunity_id", "crm_opportunity_keys"},
  };
  return tables;
}

std::string MonthPartitionsDdl(std::string_view date) {
  auto digits = [&](size_t from, size_t n) {
    int value = 0;
    for (size_t i = from; i < from + n; ++i) {
      if (date[i] < '0' || date[i] > '9') return -1;
      value = value * 10 + (date[i] - '0');
    }
    return value;
  };
  if (date.size() != 10 || date[4] != '-' || date[7] != '-') return "";
  const int year = digits(0, 4);
  const int month = digits(5, 2);
  if (year < 0 || month < 1 || month > 12) return "";
  const int next_year = month == 12 ? year + 1 : year;
  const int next_month = month == 12 ? 1 : month + 1;
  char suffix[32], from[32], to[32];
  snprintf(suffix, sizeof(suffix), "%04d_%02d", year, month);
  snprintf(from, sizeof(from), "%04d-%02d-01", year, month);
  // After 9999-12 comes any later text: '9999-12-31' < '9999-13'.
  snprintf(to, sizeof(to), "%04d-%02d-01", next_year > 9999 ? 9999 : next_year,
           next_year > 9999 ? 13 : next_month);
  std::string ddl;
  for (const PartitionedTable& table : PartitionedTables()) {
    ddl += std::string("CREATE TABLE IF NOT EXISTS ") + table.name + "_" + suffix +
           " PARTITION OF " + table.name + " FOR VALUES FROM ('" + from + "') TO ('" + to + "');\n";
  }
  return ddl;
}

}  // namespace ingestlab
