// End-to-end specification of ingestd over NATS JetStream: a real nats-server, the real ingestd
// binary (INGESTLAB_INGESTD) as a child process, a cnats publisher, and the SQLite database
// read directly. Covers CONTRACT.md section 3: applied once, duplicates counted, dead letters
// with reasons, transient retries, kill -9 of ingestd and of the broker, graceful SIGTERM; and
// the same promises for several ingestd sharing one real PostgreSQL server through its restart.
#include <signal.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include <httplib.h>
#include <catch2/catch.hpp>

#include "harness/infra/nats_cluster.h"
#include "harness/infra/postgres_server.h"
#include "harness/infra/ports.h"
#include "harness/infra/process.h"
#include "tests/integration/nats_test_util.h"
#include "tests/integration/test_nats.h"
#include "tests/support/child.h"
#include "tests/support/crash_loop.h"
#include "tests/support/pg_session.h"

using namespace ingestlab;
using ingestlab::testing::JsTestClient;
using ingestlab::testing::WaitUntil;

namespace {

// Read-only queries against ingestd's database (WAL lets us read while it writes).
class Db {
 public:
  explicit Db(const std::string& path) {
    REQUIRE(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
    sqlite3_busy_timeout(db_, 2000);
  }
  ~Db() { sqlite3_close(db_); }
  sqlite3* handle() { return db_; }

  // The first column of the first row as int64 (0 when no row or NULL); -1 on error (e.g. the
  // table does not exist yet).
  int64_t Int(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) return -1;
    int64_t v = 0;
    const int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
      v = sqlite3_column_int64(st, 0);
    } else if (rc != SQLITE_DONE) {
      v = -1;
    }
    sqlite3_finalize(st);
    return v;
  }
  double Real(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) return -1;
    double v = 0;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
  }
  std::vector<std::string> Strings(const std::string& sql) {
    std::vector<std::string> out;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) return out;
    while (sqlite3_step(st) == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(st, 0);
      out.emplace_back(t ? reinterpret_cast<const char*>(t) : "");
    }
    sqlite3_finalize(st);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

// What every ingestd here is started with: the servers, the database, an HTTP server on a free
// port written to `port_file`, and its name.
std::vector<std::string> IngestdArgs(const std::string& nats_urls, const std::string& db,
                                     const std::string& port_file, const std::string& name) {
  return {"--nats",      nats_urls,          "--db",    db,       "--http",
          "127.0.0.1:0", "--http-port-file", port_file, "--name", name};
}

// One ingestd process against a NATS cluster, with its database and HTTP port.
class Ingestd {
 public:
  Ingestd(const TempDir& dir, const std::string& nats_urls, int instance)
      : dir_(dir), urls_(nats_urls), instance_(instance) {}

  void Start() {
    const std::string me = "ingestd" + std::to_string(instance_);
    const std::string port_file = dir_.Sub(me + "-http-port-" + std::to_string(++starts_));
    SpawnOptions spawn;
    spawn.program = INGESTLAB_INGESTD;
    spawn.args = IngestdArgs(urls_, db_path(), port_file, "ingestd" + std::to_string(instance_));
    spawn.args.insert(spawn.args.end(), {"--retry-base-ms", "50", "--retry-max-ms", "400"});
    spawn.args.insert(spawn.args.end(), extra_args.begin(), extra_args.end());
    spawn.log_path = dir_.Sub(me + ".log");
    auto child = ChildProcess::Spawn(spawn);
    REQUIRE(child.ok());
    process_ = std::move(child).value();
    http_port_ = ingestlab::testing::AwaitPortFile(port_file, *process_);
    INFO(process_->LogTail());
    REQUIRE(process_->Running());
    REQUIRE(http_port_ > 0);
    REQUIRE(WaitUntil([&] { return Healthz().find("\"connected\":true") != std::string::npos; },
                      15'000));
  }

  // The SQLite file in the test's directory, unless db_url names another database.
  std::string db_path() const { return db_url.empty() ? dir_.Sub("ingest.db") : db_url; }
  std::string db_url;
  ChildProcess& process() { return *process_; }
  std::vector<std::string> extra_args;  // appended to the command line by Start
  std::string log_tail() const { return process_ ? process_->LogTail(3000) : ""; }

  std::string Get(const std::string& path) {
    httplib::Client client("127.0.0.1", http_port_);
    client.set_read_timeout(2, 0);
    auto res = client.Get(path.c_str());
    return res ? res->body : "";
  }
  std::string Healthz() { return Get("/healthz"); }
  // SIGTERM, which must reach it, and the exit (within 15 s).
  ExitStatus Stop() { return ingestlab::testing::Terminate(*process_); }

  // The value of a Prometheus sample line starting with `series` ("name{labels}"), summed over
  // all label sets when `series` is a bare name; 0 when absent.
  double Metric(const std::string& series) {
    const std::string text = Get("/metrics");
    double sum = 0;
    size_t pos = 0;
    while ((pos = text.find(series, pos)) != std::string::npos) {
      const bool line_start = pos == 0 || text[pos - 1] == '\n';
      const size_t after = pos + series.size();
      if (line_start && after < text.size() && (text[after] == ' ' || text[after] == '{')) {
        const size_t space = text.find(' ', after);
        const size_t eol = text.find('\n', space);
        sum += std::stod(text.substr(space + 1, eol - space - 1));
      }
      pos = after;
    }
    return sum;
  }

 private:
  const TempDir& dir_;
  std::string urls_;
  int instance_;
  int starts_ = 0;
  int http_port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

struct Env : ingestlab::testing::TestNats {
  Env() : TestNats("ingestd-nats") {}
};

// A NATS server with one ingestd (instance 1) started on it, a publisher and the database.
class OneIngestd {
 protected:
  explicit OneIngestd(std::vector<std::string> extra_args = {})
      : ingestd(env.dir, env.cluster->urls(), 1),
        db(StartAndOpen(ingestd, std::move(extra_args))),
        client(env.cluster->urls()) {}

  // Waits (up to 30 s) until the events table holds at least `n` rows; REQUIREs that it does
  // and that there are exactly `n`.
  void RequireAllEvents(int64_t n) {
    const bool all = WaitUntil([&] { return db.Int("SELECT count(*) FROM events") >= n; }, 30'000);
    INFO(ingestd.log_tail());
    REQUIRE(all);
    CHECK(db.Int("SELECT count(*) FROM events") == n);
  }

  Env env;
  Ingestd ingestd;
  Db db;
  JsTestClient client;

 private:
  static Db StartAndOpen(Ingestd& ingestd, std::vector<std::string> extra_args) {
    ingestd.extra_args = std::move(extra_args);
    ingestd.Start();
    return Db(ingestd.db_path());
  }
};

struct OneIngestdFixture : OneIngestd {};
// Below the server's 1 MiB max_payload, so an oversized message can be published at all.
struct SmallPayloadIngestd : OneIngestd {
  SmallPayloadIngestd() : OneIngestd({"--max-payload-bytes", "600000"}) {}
};

std::string Purchase(const std::string& id, const std::string& purchase_id, double amount,
                     const std::string& customer = "cust-1") {
  return R"({"specversion":"1.0","id":")" + id +
         R"(","source":"billing-svc","type":"billing.purchase.completed","time":"2026-11-23T10:00:00Z","subject":")" +
         customer + R"(","data":{"purchase_id":")" + purchase_id + R"(","customer_id":")" +
         customer + R"(","amount":)" + std::to_string(amount) + "}}";
}

std::string Refund(const std::string& id, const std::string& purchase_id, double amount) {
  return R"({"specversion":"1.0","id":")" + id +
         R"(","source":"billing-svc","type":"billing.purchase.refunded","time":"2026-11-23T10:05:00Z","data":{"purchase_id":")" +
         purchase_id + R"(","amount":)" + std::to_string(amount) + R"(,"reason":"broken"}})";
}

std::string Ping(int i) {
  // Service envelope (shared/seeds/003) dialect; one focus session per 1000 pings.
  return R"({"id":"ping-)" + std::to_string(i) +
         R"(","type":"focus.ping","source":"focus-svc","organization_id":"org-1","timestamp":"2026-11-23T10:00:00Z","data":{"session_id":"s-)" +
         std::to_string(i / 1000) + R"(","learner_id":"l-1","focused":true}})";
}

// Publishes pings [from, to) asynchronously, each with Nats-Msg-Id = its event id, and resends
// every publish the broker did not acknowledge until all are (so a broker restart loses nothing;
// the duplicate window drops resends the broker did store).
class PingPublisher {
 public:
  explicit PingPublisher(const std::string& urls) {
    natsOptions* opts = ingestlab::testing::ReconnectingOptions(urls);
    REQUIRE(natsConnection_Connect(&nc_, opts) == NATS_OK);
    natsOptions_Destroy(opts);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 2000;
    jo.PublishAsync.AckHandler = &PingPublisher::OnAck;
    jo.PublishAsync.AckHandlerClosure = this;
    REQUIRE(natsConnection_JetStream(&js_, nc_, &jo) == NATS_OK);
  }
  ~PingPublisher() {
    jsCtx_Destroy(js_);
    natsConnection_Destroy(nc_);
  }

  // True once every publish in [from, to) has been acknowledged.
  bool Publish(int from, int to) {
    for (int round = 0; round < 30; ++round) {
      std::vector<int> todo;
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (int i = from; i < to; ++i) {
          if (!acked_.count(i)) todo.push_back(i);
        }
      }
      if (todo.empty()) return true;
      for (int i : todo) {
        const std::string payload = Ping(i);
        const std::string id = "ping-" + std::to_string(i);
        natsMsg* msg = nullptr;
        natsMsg_Create(&msg, "focus.ping", nullptr, payload.data(),
                       static_cast<int>(payload.size()));
        natsMsgHeader_Set(msg, "Nats-Msg-Id", id.c_str());
        if (js_PublishMsgAsync(js_, &msg, nullptr) != NATS_OK) natsMsg_Destroy(msg);
      }
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MaxWait = 3000;
      if (js_PublishAsyncComplete(js_, &po) != NATS_OK) {
        natsMsgList pending = {nullptr, 0};
        if (js_PublishAsyncGetPendingList(&pending, js_) == NATS_OK) {
          natsMsgList_Destroy(&pending);  // not acked: resent next round
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    }
    return false;
  }

 private:
  static void OnAck(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr*, void* closure) {
    auto* self = static_cast<PingPublisher*>(closure);
    const char* id = nullptr;
    if (pa != nullptr && natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) == NATS_OK) {
      std::lock_guard<std::mutex> lock(self->mu_);
      self->acked_.insert(std::stoi(std::string(id).substr(5)));
    }
    natsMsg_Destroy(msg);
  }

  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  std::mutex mu_;
  std::set<int> acked_;
};

}  // namespace

TEST_CASE_METHOD(OneIngestdFixture,
                 "ingestd applies NATS events once, counts duplicates, dead-letters and retries") {
  // Applied.
  REQUIRE(client.Publish("billing.purchase.completed", Purchase("evt-1", "p-1", 10)) == NATS_OK);
  REQUIRE(client.Publish("billing.purchase.completed", Purchase("evt-2", "p-2", 5)) == NATS_OK);
  REQUIRE(WaitUntil([&] { return db.Int("SELECT count(*) FROM purchases") == 2; }, 10'000));
  CHECK(db.Int("SELECT count(*) FROM events WHERE event_id IN ('evt-1','evt-2')") == 2);
  CHECK(db.Real("SELECT lifetime_value FROM customers WHERE customer_id='cust-1'") == 15.0);

  // The same event twice without Nats-Msg-Id: the stream keeps both, ingestd applies one.
  REQUIRE(client.Publish("billing.purchase.completed", Purchase("evt-3", "p-3", 7)) == NATS_OK);
  REQUIRE(client.Publish("billing.purchase.completed", Purchase("evt-3", "p-3", 7)) == NATS_OK);
  REQUIRE(WaitUntil([&] { return ingestd.Metric("ingest_duplicates_total") == 1; }, 10'000));
  CHECK(db.Int("SELECT count(*) FROM purchases WHERE purchase_id='p-3'") == 1);
  CHECK(db.Real("SELECT lifetime_value FROM customers WHERE customer_id='cust-1'") == 22.0);

  // With a Nats-Msg-Id the broker drops the copy inside its 2-minute window...
  bool dup = false;
  REQUIRE(client.Publish("billing.purchase.completed", Purchase("evt-4", "p-4", 1),
                         {{"Nats-Msg-Id", "evt-4"}}) == NATS_OK);
  REQUIRE(client.Publish("billing.purchase.completed", Purchase("evt-4", "p-4", 1),
                         {{"Nats-Msg-Id", "evt-4"}}, 5000, &dup) == NATS_OK);
  CHECK(dup);
  // ...and a different message with the same event id (as after the window) is a duplicate
  // for ingestd: counted, no effect.
  REQUIRE(client.Publish("billing.purchase.completed", Purchase("evt-4", "p-4", 999),
                         {{"Nats-Msg-Id", "evt-4-resent"}}) == NATS_OK);
  REQUIRE(WaitUntil([&] { return ingestd.Metric("ingest_duplicates_total") == 2; }, 10'000));
  CHECK(db.Real("SELECT amount FROM purchases WHERE purchase_id='p-4'") == 1.0);
  CHECK(db.Real("SELECT lifetime_value FROM customers WHERE customer_id='cust-1'") == 23.0);

  // Malformed and schema-invalid: dead-lettered at once, on dlq.<subject> and in dead_letters.
  REQUIRE(client.Publish("billing.purchase.completed", "{not json") == NATS_OK);
  std::string invalid = Purchase("evt-bad", "p-bad", 1);
  invalid.replace(invalid.find("\"amount\":"), std::string::npos, "\"amount\":\"ten\"}}");
  REQUIRE(client.Publish("billing.invoice.issued", invalid) == NATS_OK);
  REQUIRE(WaitUntil([&] { return db.Int("SELECT count(*) FROM dead_letters") == 2; }, 10'000));
  CHECK(db.Strings("SELECT reason FROM dead_letters ORDER BY reason") ==
        std::vector<std::string>{"parse", "schema"});
  CHECK(db.Int("SELECT count(*) FROM events WHERE event_id='evt-bad'") == 0);
  REQUIRE(WaitUntil([&] { return client.StreamMessages("DLQ") == 2; }, 5000));
  auto parse_dead = client.LastMessage("DLQ", "dlq.billing.purchase.completed");
  CHECK(parse_dead.payload == "{not json");
  CHECK(parse_dead.headers["Ingest-Reason"] == "parse");
  CHECK(parse_dead.headers["Ingest-Attempts"] == "1");
  CHECK(parse_dead.headers["Ingest-Origin"].rfind("nats:BILLING:", 0) == 0);
  CHECK(!parse_dead.headers["Ingest-Error"].empty());
  auto schema_dead = client.LastMessage("DLQ", "dlq.billing.invoice.issued");
  CHECK(schema_dead.payload == invalid);
  CHECK(schema_dead.headers["Ingest-Reason"] == "schema");

  // Transient: a refund published before its purchase is retried until the purchase lands.
  REQUIRE(client.Publish("billing.purchase.refunded", Refund("evt-r", "p-9", 3)) == NATS_OK);
  REQUIRE(WaitUntil([&] { return ingestd.Metric("ingest_retries_total") >= 1; }, 10'000));
  CHECK(db.Int("SELECT count(*) FROM events WHERE event_id='evt-r'") == 0);
  REQUIRE(client.Publish("billing.purchase.completed", Purchase("evt-9", "p-9", 3)) == NATS_OK);
  REQUIRE(WaitUntil(
      [&] { return db.Real("SELECT refunded_amount FROM purchases WHERE purchase_id='p-9'") == 3; },
      10'000));
  CHECK(db.Int("SELECT attempts FROM events WHERE event_id='evt-r'") >= 2);

  // Transient: the SQLite write lock held by someone else for a second.
  {
    Db locker(ingestd.db_path());
    REQUIRE(sqlite3_exec(locker.handle(), "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) ==
            SQLITE_OK);
    REQUIRE(client.Publish("billing.purchase.completed", Purchase("evt-10", "p-10", 1)) == NATS_OK);
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    CHECK(locker.Int("SELECT count(*) FROM events WHERE event_id='evt-10'") == 0);
    REQUIRE(sqlite3_exec(locker.handle(), "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK);
  }
  REQUIRE(WaitUntil(
      [&] { return db.Int("SELECT count(*) FROM purchases WHERE purchase_id='p-10'") == 1; },
      10'000));
  CHECK(db.Int("SELECT count(*) FROM dead_letters") == 2);  // nothing else dead-lettered

  // SIGTERM: exit 0.
  const ExitStatus how = ingestd.Stop();
  INFO(ingestd.log_tail());
  CHECK(how.exited);
  CHECK(how.code == 0);
}

TEST_CASE_METHOD(
    SmallPayloadIngestd,
    "a dead letter too large for the DLQ is published truncated with its original size") {
  std::string big = Purchase("evt-big", "p-big", 1);
  big.insert(big.find("\"amount\":"), "\"note\":\"" + std::string(700'000, 'x') + "\",");
  REQUIRE(client.Publish("billing.purchase.completed", big) == NATS_OK);
  REQUIRE(WaitUntil([&] { return db.Int("SELECT count(*) FROM dead_letters") == 1; }, 10'000));
  CHECK(db.Strings("SELECT reason FROM dead_letters") == std::vector<std::string>{"parse"});
  CHECK(db.Int("SELECT length(payload) FROM dead_letters") == static_cast<int64_t>(big.size()));
  REQUIRE(WaitUntil([&] { return client.StreamMessages("DLQ") == 1; }, 5000));
  auto dead = client.LastMessage("DLQ", "dlq.billing.purchase.completed");
  CHECK(dead.headers["Ingest-Reason"] == "parse");
  CHECK(dead.headers["Ingest-Payload-Truncated"] == std::to_string(big.size()));
  CHECK(dead.payload == big.substr(0, 512 * 1024));
  CHECK(ingestd.Metric("ingest_dead_letter_publish_failures_total") == 0);
}

TEST_CASE_METHOD(
    OneIngestdFixture,
    "after a stream is recreated, a new poison message at a reused origin is dead-lettered") {
  // Deleting and recreating a stream restarts its sequence numbers, so origins repeat.
  REQUIRE(client.Publish("billing.purchase.completed", "{first poison") == NATS_OK);
  REQUIRE(WaitUntil([&] { return client.StreamMessages("DLQ") == 1; }, 10'000));
  CHECK(db.Strings("SELECT origin FROM dead_letters") ==
        std::vector<std::string>{"nats:BILLING:1"});

  REQUIRE(js_DeleteStream(client.js(), "BILLING", nullptr, nullptr) == NATS_OK);
  // ingestd notices the stream and its consumer gone and creates them again (within ~1 s);
  // until then the publish finds no stream.
  REQUIRE(WaitUntil(
      [&] { return client.Publish("billing.purchase.completed", "{second poison", {}, 500) == NATS_OK; },
      15'000));
  REQUIRE(WaitUntil([&] { return db.Int("SELECT count(*) FROM dead_letters") == 2; }, 10'000));
  CHECK(db.Strings("SELECT origin FROM dead_letters ORDER BY id") ==
        std::vector<std::string>{"nats:BILLING:1", "nats:BILLING:1"});
  CHECK(db.Strings("SELECT CAST(payload AS TEXT) FROM dead_letters ORDER BY id") ==
        std::vector<std::string>{"{first poison", "{second poison"});
  REQUIRE(WaitUntil([&] { return client.StreamMessages("DLQ") == 2; }, 10'000));
  CHECK(client.LastMessage("DLQ", "dlq.billing.purchase.completed").payload == "{second poison");
  CHECK(ingestd.Metric("ingest_dead_letters_total{reason=\"parse\"}") == 2);
}

std::string Invoice(const std::string& id, const std::string& due_date) {
  return R"({"specversion":"1.0","id":")" + id +
         R"(","source":"billing-svc","type":"billing.invoice.issued","time":"2026-11-23T10:00:00Z","subject":"cust-1","data":{"invoice_id":")" +
         id + R"(","customer_id":"cust-1","amount":10,"due_date":")" + due_date + R"("}})";
}

TEST_CASE("a 200 KB due_date neither crashes ingestd nor stalls it", "[regression]") {
  // Once a backtracking regex recursed per character of this field and killed the process.
  const std::string digits(200'000, '7');
  Env env;
  JsTestClient client(env.cluster->urls());

  SECTION("embedded schemas: over the field's maxLength, dead-lettered 'schema'") {
    Ingestd ingestd(env.dir, env.cluster->urls(), 1);
    ingestd.Start();
    Db db(ingestd.db_path());
    REQUIRE(client.Publish("billing.invoice.issued",
                           Invoice("inv-long", "2024-01-01T00:00:00." + digits + "Z")) == NATS_OK);
    REQUIRE(client.Publish("billing.invoice.issued", Invoice("inv-ok", "2024-01-01")) == NATS_OK);
    REQUIRE(WaitUntil([&] { return db.Int("SELECT count(*) FROM invoices") == 1; }, 10'000));
    REQUIRE(WaitUntil([&] { return db.Int("SELECT count(*) FROM dead_letters") == 1; }, 10'000));
    CHECK(db.Strings("SELECT reason FROM dead_letters") == std::vector<std::string>{"schema"});
    CHECK(db.Strings("SELECT error FROM dead_letters") ==
          std::vector<std::string>{
              "data.due_date: must be at most 64 characters long, got 200021 characters"});
    CHECK(ingestd.process().Running());
    CHECK(ingestd.Healthz().find("\"connected\":true") != std::string::npos);
  }

  SECTION("a schema with the pattern alone: matched in linear time, applied or dead-lettered") {
    // The shipped schemas, less the invoice's maxLength: only the regex engine is left.
    const std::string schemas = env.dir.Sub("schemas");
    std::filesystem::create_directories(schemas);
    for (const auto& entry : std::filesystem::directory_iterator(std::string(INGESTLAB_SOURCE_DIR) +
                                                                 "/system/schemas")) {
      if (entry.path().extension() != ".json") continue;
      std::ifstream in(entry.path());
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (entry.path().filename() == "billing.invoice.issued.v1.json") {
        const std::string cap = "\"maxLength\": 64,";
        REQUIRE(text.find(cap) != std::string::npos);
        text.erase(text.find(cap), cap.size());
      }
      std::ofstream(schemas + "/" + entry.path().filename().string()) << text;
    }
    Ingestd ingestd(env.dir, env.cluster->urls(), 1);
    ingestd.extra_args = {"--schemas", schemas};
    ingestd.Start();
    Db db(ingestd.db_path());
    REQUIRE(client.Publish("billing.invoice.issued",
                           Invoice("inv-long", "2024-01-01T00:00:00." + digits + "Z")) == NATS_OK);
    REQUIRE(client.Publish("billing.invoice.issued",
                           Invoice("inv-bad", "2024-01-01T00:00:00." + digits + "Q")) == NATS_OK);
    REQUIRE(WaitUntil([&] { return db.Int("SELECT count(*) FROM dead_letters") == 1; }, 10'000));
    REQUIRE(WaitUntil(
        [&] { return db.Int("SELECT count(*) FROM invoices WHERE invoice_id='inv-long'") == 1; },
        10'000));
    CHECK(db.Strings("SELECT reason FROM dead_letters") == std::vector<std::string>{"schema"});
    CHECK(ingestd.process().Running());
    CHECK(ingestd.Healthz().find("\"connected\":true") != std::string::npos);
  }
}

TEST_CASE("a message that crashes ingestd is dead-lettered as crash after max_attempts crashes") {
  // ingestd_crash_hook raises SIGSEGV on a message holding the marker, the way a handler bug
  // would. A supervisor restarts it; its batch-mates must each apply once.
  Env env;
  JsTestClient client(env.cluster->urls());
  {
    // The streams exist once an ingestd has started; this one stops before the publishing.
    Ingestd first(env.dir, env.cluster->urls(), 1);
    first.Start();
    first.Stop();
  }
  constexpr int kTotal = 40;
  double expected_value = 0;
  for (int i = 0; i < kTotal; ++i) {
    std::string event = Purchase("evt-" + std::to_string(i), "p-" + std::to_string(i), i);
    if (i == 17) {
      event.insert(event.find("\"amount\":"), "\"product_name\":\"ingestd-test-crash\",");
    } else {
      expected_value += i;
    }
    REQUIRE(client.Publish("billing.purchase.completed", event) == NATS_OK);
  }
  Db db(env.dir.Sub("ingest.db"));
  SpawnOptions spawn;
  spawn.program = INGESTLAB_INGESTD_CRASH_HOOK;
  spawn.args = IngestdArgs(env.cluster->urls(), env.dir.Sub("ingest.db"), env.dir.Sub("crash-port"),
                           "ingestd1");
  spawn.args.insert(spawn.args.end(),
                    {"--max-attempts", "3", "--ack-wait-ms", "500", "--retry-base-ms", "50"});
  spawn.log_path = env.dir.Sub("ingestd-crash.log");
  auto loop = ingestlab::testing::RunThroughCrashes(
      spawn,
      [&] {
        return db.Int("SELECT count(*) FROM dead_letters") == 1 &&
               db.Int("SELECT count(*) FROM events") == kTotal - 1;
      },
      10, 60'000);
  INFO(ReadFileTail(spawn.log_path, 20000));
  REQUIRE(loop.done);
  CHECK(loop.Crashes(SIGSEGV) == 3);
  CHECK(loop.deaths.size() == 3);
  CHECK(db.Strings("SELECT reason || ' ' || origin FROM dead_letters") ==
        std::vector<std::string>{"crash nats:BILLING:18"});
  CHECK(db.Strings("SELECT error FROM dead_letters") ==
        std::vector<std::string>{"in flight during 3 crashes of the process, max_attempts is 3"});
  CHECK(db.Int("SELECT count(*) FROM purchases") == kTotal - 1);
  CHECK(db.Int("SELECT count(*) FROM purchases WHERE purchase_id = 'p-17'") == 0);
  CHECK(db.Real("SELECT lifetime_value FROM customers WHERE customer_id='cust-1'") ==
        expected_value);
  REQUIRE(WaitUntil([&] { return client.StreamMessages("DLQ") == 1; }, 5000));
  auto dead = client.LastMessage("DLQ", "dlq.billing.purchase.completed");
  CHECK(dead.headers["Ingest-Reason"] == "crash");
  CHECK(dead.payload.find("ingestd-test-crash") != std::string::npos);
  // Still up, nothing left in flight or suspected.
  CHECK(loop.process->Running());
  REQUIRE(WaitUntil([&] { return db.Int("SELECT count(*) FROM crash_suspects") == 0; }, 5000));
  CHECK(ingestlab::testing::Terminate(*loop.process).exited);
  CHECK(db.Int("SELECT count(*) FROM in_flight") == 0);
}

// Resident and peak resident set of a process, in MiB (/proc/PID/status VmRSS, VmHWM).
std::pair<double, double> RssMiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  double rss = 0, peak = 0;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) rss = std::stod(line.substr(6)) / 1024;
    if (line.rfind("VmHWM:", 0) == 0) peak = std::stod(line.substr(6)) / 1024;
  }
  return {rss, peak};
}

TEST_CASE("a flood of 1 MiB messages into a stalled store keeps ingestd within its memory bound") {
  // docs/ingestd.md, "Memory": with the defaults and one stream flooded ingestd stays under
  // 512 MiB. The count limit alone (50,000 messages) would let the queue take all 600 MB.
  constexpr int kMessages = 600;
  constexpr double kBoundMiB = 512;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  WARN("skipped: a sanitizer build's ingestd keeps freed memory in quarantine");
  return;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
  WARN("skipped: a sanitizer build's ingestd keeps freed memory in quarantine");
  return;
#endif
#endif
  Env env;
  Ingestd ingestd(env.dir, env.cluster->urls(), 1);
  ingestd.Start();
  JsTestClient client(env.cluster->urls());
  Db db(ingestd.db_path());
  Db locker(ingestd.db_path());
  REQUIRE(sqlite3_exec(locker.handle(), "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  const double baseline = RssMiB(ingestd.process().pid()).first;
  std::string big = Purchase("evt-big-0", "p-big-0", 1);
  const std::string padding = "\"padding\":\"" + std::string(1'000'000, 'x') + "\",";
  big.insert(big.find("\"amount\":"), padding);
  for (int i = 0; i < kMessages; ++i) {
    std::string event = big;
    const std::string n = std::to_string(i);
    event.replace(event.find("evt-big-0"), 9, "evt-big-" + n);
    event.replace(event.find("p-big-0"), 7, "p-big-" + n);
    REQUIRE(client.Publish("billing.purchase.completed", event) == NATS_OK);
  }
  // Let the source and the pipeline fill to their limits while nothing drains.
  double held = 0;
  for (int i = 0; i < 40; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    held = std::max(held, ingestd.Metric("ingest_queue_bytes"));
  }
  const auto [rss, peak] = RssMiB(ingestd.process().pid());
  INFO("baseline " << baseline << " MiB, rss " << rss << " MiB, peak " << peak
                   << " MiB, pipeline held " << held / (1 << 20) << " MiB");
  CHECK(held > 100.0 * (1 << 20));   // the flood did reach the pipeline...
  CHECK(held <= 260.0 * (1 << 20));  // ...which held no more than --queue-bytes
  CHECK(peak < kBoundMiB);
  CHECK(ingestd.Healthz().find("\"connected\":true") != std::string::npos);
  // Backpressure loses nothing: released, every message is applied once.
  REQUIRE(sqlite3_exec(locker.handle(), "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK);
  REQUIRE(
      WaitUntil([&] { return db.Int("SELECT count(*) FROM purchases") == kMessages; }, 120'000));
  CHECK(db.Int("SELECT count(*) FROM dead_letters") == 0);
  CHECK(RssMiB(ingestd.process().pid()).second < kBoundMiB);
}

TEST_CASE_METHOD(OneIngestdFixture,
                 "ingestd killed with SIGKILL mid-stream applies every event exactly once") {
  constexpr int kEvents = 20'000;
  std::atomic<bool> published{false};
  std::thread publisher([&] {
    PingPublisher pinger(env.cluster->urls());
    published = pinger.Publish(0, kEvents);
  });
  REQUIRE(WaitUntil([&] { return db.Int("SELECT count(*) FROM events") >= 3000; }, 20'000));
  REQUIRE(ingestd.process().Signal(SIGKILL).ok());
  REQUIRE(ingestd.process().WaitExit(5000).ok());
  const int64_t at_kill = db.Int("SELECT count(*) FROM events");
  INFO("events applied before the kill: " << at_kill);
  ingestd.Start();
  publisher.join();
  REQUIRE(published);
  // Messages the killed process had in flight come back after AckWait (10 s).
  RequireAllEvents(kEvents);
  CHECK(db.Int("SELECT count(DISTINCT event_id) FROM events WHERE event_id LIKE 'ping-%'") ==
        kEvents);
  // Effects exactly once: every ping counted once in the per-minute aggregate.
  CHECK(db.Int("SELECT sum(pings) FROM focus_minutes") == kEvents);
  CHECK(db.Int("SELECT count(*) FROM dead_letters") == 0);
  CHECK(ingestd.Stop().code == 0);
}

TEST_CASE_METHOD(
    OneIngestdFixture,
    "ingestd loses nothing when nats-server is killed and restarted while publishing") {
  constexpr int kEvents = 6'000;
  {
    PingPublisher pinger(env.cluster->urls());
    REQUIRE(pinger.Publish(0, kEvents / 2));
    REQUIRE(env.cluster->Kill(0).ok());
    Status restarted;
    std::thread restarter([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      restarted = env.cluster->Restart(0);
    });
    // Publishing while the broker is down: unacknowledged publishes are retried.
    const bool all_acked = pinger.Publish(kEvents / 2, kEvents);
    restarter.join();
    REQUIRE(restarted.ok());
    REQUIRE(all_acked);
  }
  RequireAllEvents(kEvents);
  CHECK(db.Int("SELECT sum(pings) FROM focus_minutes") == kEvents);
  CHECK(ingestd.Metric("ingest_reconnects_total") >= 1);
  CHECK(ingestd.Stop().code == 0);
}

TEST_CASE_METHOD(
    OneIngestdFixture,
    "ingestd on SIGTERM settles what is in flight and exits 0; a restart finishes the rest") {
  constexpr int kEvents = 10'000;
  REQUIRE(PingPublisher(env.cluster->urls()).Publish(0, kEvents));
  REQUIRE(WaitUntil([&] { return db.Int("SELECT count(*) FROM events") > 0; }, 10'000));
  const ExitStatus how = ingestd.Stop();
  INFO(ingestd.log_tail());
  CHECK(how.exited);
  CHECK(how.code == 0);

  // Everything ingestd took was acked or released: the restart sees no redelivery of an
  // applied event and needs no AckWait to finish.
  ingestd.Start();
  REQUIRE(WaitUntil([&] { return db.Int("SELECT count(*) FROM events") >= kEvents; }, 8'000));
  CHECK(db.Int("SELECT sum(pings) FROM focus_minutes") == kEvents);
  CHECK(ingestd.Metric("ingest_redeliveries_total") == 0);
  CHECK(ingestd.Metric("ingest_duplicates_total") == 0);
  ingestd.Stop();
}

TEST_CASE("two ingestd sharing one PostgreSQL apply each event once, through a store restart") {
  Env env;
  PostgresOptions pg_options;
  pg_options.log_path = env.dir.Sub("postgres.log");
  auto pg = PostgresServer::Start(pg_options);
  REQUIRE(pg.ok());
  const std::string url = (*pg)->url();
  Ingestd first(env.dir, env.cluster->urls(), 1), second(env.dir, env.cluster->urls(), 2);
  for (Ingestd* ingestd : {&first, &second}) {
    ingestd->db_url = url;
    ingestd->Start();
    CHECK(ingestd->Healthz().find("\"ok\":true") != std::string::npos);
  }
  JsTestClient client(env.cluster->urls());
  testing::PgSession db(url);
  constexpr int kPurchases = 400;
  auto publish = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      const std::string n = std::to_string(i);
      REQUIRE(client.Publish("billing.purchase.completed",
                             Purchase("evt-" + n, "p-" + n, 1 + i % 7,
                                      "cust-" + std::to_string(i % 5))) == NATS_OK);
    }
  };
  publish(0, kPurchases / 2);
  // A producer-side duplicate and a poison message among them.
  REQUIRE(client.Publish("billing.purchase.completed", Purchase("evt-3", "p-3", 4, "cust-3")) ==
          NATS_OK);
  REQUIRE(client.Publish("billing.purchase.completed", "{not json") == NATS_OK);
  REQUIRE(WaitUntil([&] { return db.Int("SELECT count(*) FROM events") >= 20; }, 15'000));

  // The store goes away under both and comes back: nothing is lost or applied twice.
  REQUIRE((*pg)->Restart().ok());
  publish(kPurchases / 2, kPurchases);
  testing::PgSession after(url);
  const bool all = WaitUntil(
      [&] { return after.Int("SELECT count(*) FROM events") >= kPurchases; }, 30'000);
  INFO(first.log_tail());
  INFO(second.log_tail());
  REQUIRE(all);
  CHECK(after.Int("SELECT count(*) FROM events") == kPurchases);
  CHECK(after.Int("SELECT count(*) FROM purchases") == kPurchases);
  double expected = 0;
  for (int i = 0; i < kPurchases; ++i) expected += 1 + i % 7;
  CHECK(after.Real("SELECT sum(lifetime_value) FROM customers") == Approx(expected));
  REQUIRE(WaitUntil([&] { return after.Int("SELECT count(*) FROM dead_letters") == 1; }, 10'000));
  REQUIRE(WaitUntil([&] { return client.StreamMessages("DLQ") == 1; }, 10'000));
  const bool counted = WaitUntil(
      [&] {
        return first.Metric("ingest_duplicates_total") + second.Metric("ingest_duplicates_total") ==
               1;
      },
      10'000);
  INFO("duplicates " << first.Metric("ingest_duplicates_total") << " + "
                     << second.Metric("ingest_duplicates_total") << ", redeliveries "
                     << first.Metric("ingest_redeliveries_total") << " + "
                     << second.Metric("ingest_redeliveries_total"));
  REQUIRE(counted);
  // Both took a share of the work, and each reconnected to the store on its own.
  CHECK(first.Metric("ingest_applied_total") > 0);
  CHECK(second.Metric("ingest_applied_total") > 0);
  CHECK(first.Metric("ingest_applied_total") + second.Metric("ingest_applied_total") ==
        kPurchases);
  for (Ingestd* ingestd : {&first, &second}) {
    CHECK(ingestd->Healthz().find("\"ok\":true") != std::string::npos);
    CHECK(ingestd->Healthz().find("postgres://") != std::string::npos);
    CHECK(ingestd->Stop().code == 0);
  }
}
