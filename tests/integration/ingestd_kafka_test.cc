// The real ingestd binary against librdkafka's mock cluster running in this test process:
// CloudEvents (structured and binary mode, crm.lead.created v1 and v2) end up as rows,
// duplicates have one effect, poison and malformed messages reach <topic>.dlq and dead_letters,
// and a SIGKILL mid-stream or a second ingestd in the group still applies every event once.
#include <catch2/catch.hpp>

#include <httplib.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <thread>

#include "harness/infra/kafka_cluster.h"
#include "harness/infra/ports.h"
#include "harness/infra/process.h"
#include "tests/integration/kafka_test_util.h"
#include "tests/support/crash_loop.h"
#include "tests/support/sqlite_query.h"

using namespace ingestlab;
using namespace std::chrono_literals;
using namespace ingestlab::testing;

namespace {

struct KafkaEnv {
  std::unique_ptr<KafkaMockCluster> cluster;
  TempDir dir;
  std::string db;  // dir/ingest.db, shared by every ingestd of the test
};

KafkaEnv StartEnv(const std::string& tag) {
  auto cluster = KafkaMockCluster::Start();
  REQUIRE(cluster.ok());
  auto dir = TempDir::Create(tag);
  REQUIRE(dir.ok());
  const std::string db = dir->Sub("ingest.db");
  return KafkaEnv{std::move(cluster).value(), std::move(dir).value(), db};
}

// The command line every ingestd here shares: fast retries and a short session timeout (a
// SIGKILLed member's partitions move in ~3 s).
std::vector<std::string> IngestdArgs(const std::string& bootstrap, const std::string& db,
                                     const std::string& name) {
  return {"--kafka",
          bootstrap,
          "--db",
          db,
          "--http",
          "127.0.0.1:0",
          "--name",
          name,
          "--retry-base-ms",
          "20",
          "--kafka-property",
          "session.timeout.ms=3000",
          "--kafka-property",
          "heartbeat.interval.ms=300"};
}

// Starts ingestd on the mock cluster with the shared database, waits until its HTTP port file
// appears.
std::unique_ptr<ChildProcess> StartIngestd(const KafkaMockCluster& cluster, const TempDir& dir,
                                           const std::string& name) {
  const std::string port_file = dir.Sub(name + ".port");
  std::remove(port_file.c_str());
  SpawnOptions spawn;
  spawn.program = INGESTLAB_INGESTD;
  spawn.args = IngestdArgs(cluster.bootstrap(), dir.Sub("ingest.db"), name);
  spawn.args.insert(spawn.args.end(), {"--http-port-file", port_file, "--busy-timeout-ms", "2000"});
  spawn.log_path = dir.Sub(name + ".log");
  auto child = ChildProcess::Spawn(spawn);
  REQUIRE(child.ok());
  const int port = AwaitPortFile(port_file, **child);
  INFO((*child)->LogTail());
  REQUIRE(port > 0);
  return std::move(child).value();
}

bool LogSaysAssigned(const ChildProcess& child) {
  return ReadFileTail(child.log_path(), 100'000).find("assigned") != std::string::npos;
}

// StartIngestd, then waits until the member has joined the group and holds partitions.
std::unique_ptr<ChildProcess> StartAssigned(const KafkaMockCluster& cluster, const TempDir& dir,
                                            const std::string& name) {
  auto child = StartIngestd(cluster, dir, name);
  REQUIRE(WaitUntil([&] { return LogSaysAssigned(*child); }, 15s));
  return child;
}

std::string LeadCreatedV1(const std::string& id, const std::string& lead_id) {
  return R"({"specversion":"1.0","id":")" + id +
         R"(","source":"crm","type":"crm.lead.created","time":"2026-11-23T10:00:00Z",)"
         R"("orgid":"org_1","subject":")" +
         lead_id + R"(","data":{"lead_id":")" + lead_id + R"(","email":")" + lead_id +
         R"(@example.com","name":"Ann Example","company":"Acme","lead_source":"web","status":"new"}})";
}

KafkaRecord Structured(const std::string& topic, const std::string& key, std::string json) {
  return KafkaRecord{topic, -1, key, std::move(json), {}};
}

void ProduceAll(KafkaTestProducer& producer, const std::vector<KafkaRecord>& records) {
  for (const auto& r : records) REQUIRE(producer.Produce(r).ok());
  REQUIRE(producer.Flush().ok());
}

}  // namespace

TEST_CASE("ingestd folds Kafka CloudEvents into the crm tables and dead-letters bad ones",
          "[kafka][ingestd]") {
  KafkaEnv env = StartEnv("ingestd-kafka");
  auto ingestd = StartIngestd(*env.cluster, env.dir, "ingestd-1");
  auto producer = KafkaTestProducer::Create(env.cluster->bootstrap());
  REQUIRE(producer.ok());

  std::vector<KafkaRecord> records;
  // crm.lead.created v1, structured mode.
  records.push_back(Structured("crm.leads", "L1", LeadCreatedV1("ev-lead-1", "L1")));
  // crm.lead.created v2, structured mode: first + last name and a score.
  records.push_back(Structured(
      "crm.leads", "L2",
      R"({"specversion":"1.0","id":"ev-lead-2","source":"crm","type":"crm.lead.created",)"
      R"("time":"2026-11-23T10:00:01Z","orgid":"org_1","schemaversion":2,"data":{"lead_id":"L2",)"
      R"("email":"ada@example.com","first_name":"Ada","last_name":"Lovelace","company":"Engines",)"
      R"("lead_source":"event","status":"qualified","score":87}})"));
  // crm.lead.created v1, binary mode: ce_* headers, value = data.
  records.push_back(KafkaRecord{
      "crm.leads",
      -1,
      "L3",
      R"({"lead_id":"L3","email":"l3@example.com","name":"Bin Ary","status":"contacted"})",
      {{"ce_specversion", "1.0"},
       {"ce_id", "ev-lead-3"},
       {"ce_source", "crm"},
       {"ce_type", "crm.lead.created"},
       {"ce_time", "2026-11-23T10:00:02Z"},
       {"ce_orgid", "org_1"},
       {"content-type", "application/json"}}});
  records.push_back(Structured(
      "crm.contacts", "C1",
      R"({"specversion":"1.0","id":"ev-contact-1","source":"crm","type":"crm.contact.created",)"
      R"("time":"2026-11-23T10:00:03Z","orgid":"org_1","data":{"contact_id":"C1",)"
      R"("email":"c1@example.com","name":"Cee One","phone":"+1 555 0100","lead_id":"L1"}})"));
  records.push_back(
      KafkaRecord{"crm.opportunities",
                  -1,
                  "O1",
                  R"({"opportunity_id":"O1","contact_id":"C1","name":"Big deal","amount":1200.5,)"
                  R"("stage":"proposal"})",
                  {{"ce_specversion", "1.0"},
                   {"ce_id", "ev-opp-1"},
                   {"ce_source", "crm"},
                   {"ce_type", "crm.opportunity.created"},
                   {"ce_time", "2026-11-23T10:00:04Z"},
                   {"ce_orgid", "org_1"}}});
  // An update that arrives before the lead it updates (same key, same partition): retried in
  // partition order until the create, right behind it, has been applied.
  records.push_back(Structured(
      "crm.leads", "L9",
      R"({"specversion":"1.0","id":"ev-lead-9-update","source":"crm","type":"crm.lead.updated",)"
      R"("time":"2026-11-23T10:00:09Z","orgid":"org_1","data":{"lead_id":"L9",)"
      R"("status":"qualified","score":55}})"));
  records.push_back(Structured("crm.leads", "L9", LeadCreatedV1("ev-lead-9", "L9")));
  // A producer-side duplicate: same id, another offset (and partition, by key).
  records.push_back(Structured("crm.leads", "L1-again", LeadCreatedV1("ev-lead-1", "L1")));
  // Malformed bytes and a schema-invalid event (no email).
  records.push_back(Structured("crm.leads", "bad-1", "{\"specversion\": \"1.0\", oops"));
  records.push_back(Structured(
      "crm.contacts", "bad-2",
      R"({"specversion":"1.0","id":"ev-contact-bad","source":"crm","type":"crm.contact.created",)"
      R"("time":"2026-11-23T10:00:05Z","data":{"contact_id":"C9"}})"));
  ProduceAll(**producer, records);

  const bool settled = WaitUntil(
      [&] {
        return QueryInt(env.db, "SELECT count(*) FROM events") == 7 &&
               QueryInt(env.db, "SELECT count(*) FROM dead_letters") == 2;
      },
      30s);
  INFO(ingestd->LogTail(4000));
  REQUIRE(settled);

  CHECK(QueryInt(env.db, "SELECT count(*) FROM crm_leads") == 4);
  CHECK(QueryText(env.db, "SELECT status FROM crm_leads WHERE lead_id='L9'") == "qualified");
  CHECK(QueryInt(env.db, "SELECT score FROM crm_leads WHERE lead_id='L9'") == 55);
  CHECK(QueryInt(env.db, "SELECT attempts FROM events WHERE event_id='ev-lead-9-update'") >= 2);
  CHECK(QueryText(env.db, "SELECT name FROM crm_leads WHERE lead_id='L2'") == "Ada Lovelace");
  CHECK(QueryInt(env.db, "SELECT score FROM crm_leads WHERE lead_id='L2'") == 87);
  CHECK(QueryText(env.db, "SELECT status FROM crm_leads WHERE lead_id='L3'") == "contacted");
  CHECK(QueryText(env.db, "SELECT email FROM crm_contacts WHERE contact_id='C1'") ==
        "c1@example.com");
  CHECK(QueryText(env.db, "SELECT stage FROM crm_opportunities WHERE opportunity_id='O1'") ==
        "proposal");
  CHECK(QueryText(env.db, "SELECT status FROM crm_opportunities WHERE opportunity_id='O1'") ==
        "open");
  CHECK(QueryInt(env.db, "SELECT count(*) FROM events WHERE event_id='ev-lead-1'") == 1);
  CHECK(QueryText(env.db, "SELECT origin FROM events WHERE event_id='ev-lead-3'")
            .rfind("kafka:crm.leads:", 0) == 0);
  CHECK(
      QueryText(env.db, "SELECT reason FROM dead_letters WHERE origin LIKE 'kafka:crm.leads:%'") ==
      "parse");
  CHECK(QueryText(env.db,
                  "SELECT reason FROM dead_letters WHERE origin LIKE 'kafka:crm.contacts:%'") ==
        "schema");

  // The dead letter is published right after the transaction that recorded it commits.
  const KafkaReadRecord lead_dead = OnlyRecord(env.cluster->bootstrap(), "crm.leads.dlq");
  auto h = HeaderMap(lead_dead);
  CHECK(h["reason"] == "parse");
  CHECK(h["topic"] == "crm.leads");
  CHECK(!h["error"].empty());
  CHECK(h["origin"] == "kafka:crm.leads:" + h["partition"] + ":" + h["offset"]);
  CHECK(lead_dead.value == "{\"specversion\": \"1.0\", oops");
  CHECK(OnlyRecord(env.cluster->bootstrap(), "crm.contacts.dlq").headers.size() >= 7);

  const ExitStatus exit = Terminate(*ingestd);
  CHECK(exit.exited);
  CHECK(exit.code == 0);
}

namespace {

// Produces `count` distinct lead.created events over ~duration on a background thread.
class SteadyProducer : public BackgroundProducer {
 public:
  SteadyProducer(const KafkaMockCluster& cluster, int count, std::chrono::milliseconds duration,
                 const std::string& prefix)
      : BackgroundProducer(
            cluster.bootstrap(), count, std::max(1, count / static_cast<int>(duration / 20ms)),
            20ms, [prefix](int i) {
              const std::string lead = prefix + std::to_string(i);
              return Structured("crm.leads", lead, LeadCreatedV1("ev-" + lead, lead));
            }) {}
};

int64_t EventRows(const std::string& db) { return QueryInt(db, "SELECT count(*) FROM events"); }

// Two members over one stream: ingestd-a joined the group before the first lead, `total` leads
// produced over `duration` on a background thread, and at least `applied` of them in the
// database when this returns.
struct StreamUnderWay {
  std::unique_ptr<ChildProcess> first;
  std::unique_ptr<SteadyProducer> producer;
};

StreamUnderWay StartStream(const KafkaMockCluster& cluster, const TempDir& dir, int total,
                           std::chrono::milliseconds duration, const std::string& prefix,
                           int64_t applied) {
  StreamUnderWay run;
  run.first = StartAssigned(cluster, dir, "ingestd-a");
  run.producer = std::make_unique<SteadyProducer>(cluster, total, duration, prefix);
  const std::string db = dir.Sub("ingest.db");
  REQUIRE(WaitUntil([&] { return EventRows(db) >= applied; }, 20s));
  return run;
}

}  // namespace

TEST_CASE("ingestd killed with SIGKILL mid-stream and restarted applies every event once",
          "[kafka][ingestd]") {
  KafkaEnv env = StartEnv("ingestd-kafka-kill");
  constexpr int kTotal = 3'000;
  StreamUnderWay stream = StartStream(*env.cluster, env.dir, kTotal, 3s, "K", 500);
  // Make the broker refuse offset commits (OffsetCommit = API key 8) for a moment, so that at the
  // kill there are surely events committed to SQLite whose offsets are not committed.
  env.cluster->PushRequestErrors(8, std::vector<int>(100'000, /*UNKNOWN_SERVER_ERROR*/ -1));
  const int64_t applied_at_refusal = EventRows(env.db);
  REQUIRE(WaitUntil([&] { return EventRows(env.db) >= applied_at_refusal + 200; }, 10s));
  REQUIRE(stream.first->Signal(SIGKILL).ok());
  (void)stream.first->WaitExit(5'000);
  env.cluster->ClearRequestErrors(8);
  const int64_t applied_before_kill = EventRows(env.db);
  auto second = StartIngestd(*env.cluster, env.dir, "ingestd-b");
  REQUIRE(stream.producer->Finish());

  const bool all = WaitUntil([&] { return EventRows(env.db) == kTotal; }, 30s);
  INFO(second->LogTail(4000));
  REQUIRE(all);
  std::this_thread::sleep_for(500ms);  // anything redelivered late must not add rows
  CHECK(applied_before_kill < kTotal);
  CHECK(QueryInt(env.db, "SELECT count(*) FROM events") == kTotal);
  CHECK(QueryInt(env.db, "SELECT count(*) FROM crm_leads") == kTotal);
  CHECK(QueryInt(env.db, "SELECT count(DISTINCT event_id) FROM events") == kTotal);
  CHECK(QueryInt(env.db, "SELECT count(*) FROM dead_letters") == 0);
  // The restarted member saw again what was stored but not committed, and skipped it.
  CHECK(MetricValue(env.dir.Sub("ingestd-b.port"), "ingest_redeliveries_total") >= 200);
  CHECK(Terminate(*second).code == 0);
}

TEST_CASE("two ingestd in the same group split the partitions and apply every event once",
          "[kafka][ingestd]") {
  KafkaEnv env = StartEnv("ingestd-kafka-group");
  constexpr int kTotal = 3'000;
  StreamUnderWay stream = StartStream(*env.cluster, env.dir, kTotal, 5s, "G", 300);
  auto second = StartIngestd(*env.cluster, env.dir, "ingestd-b");
  REQUIRE(stream.producer->Finish());

  const bool all = WaitUntil([&] { return EventRows(env.db) == kTotal; }, 30s);
  INFO(stream.first->LogTail(3000));
  INFO(second->LogTail(3000));
  REQUIRE(all);
  CHECK(QueryInt(env.db, "SELECT count(*) FROM crm_leads") == kTotal);
  CHECK(QueryInt(env.db, "SELECT count(*) FROM dead_letters") == 0);
  // The newcomer took over partitions and applied part of the stream itself.
  CHECK(LogSaysAssigned(*second));
  CHECK(MetricValue(env.dir.Sub("ingestd-b.port"), "ingest_applied_total") > 0);
  CHECK(MetricValue(env.dir.Sub("ingestd-a.port"), "ingest_applied_total") > 0);
  for (auto* p : {stream.first.get(), second.get()}) {
    CHECK(Terminate(*p).code == 0);
  }
}

TEST_CASE(
    "an oversized message reaches crm.leads.dlq truncated, and replays after a partition rewind "
    "count as redeliveries, not duplicates",
    "[kafka][ingestd][dlq]") {
  KafkaEnv env = StartEnv("ingestd-kafka-dlq");
  auto ingestd = StartIngestd(*env.cluster, env.dir, "ingestd-1");
  const std::string port_file = env.dir.Sub("ingestd-1.port");
  // The producer must accept the oversized message that ingestd then refuses.
  auto producer =
      KafkaTestProducer::Create(env.cluster->bootstrap(), {{"message.max.bytes", "4000000"}});
  REQUIRE(producer.ok());

  // One key: every record lands on the same partition, in this order.
  const std::string key = "P";
  std::vector<KafkaRecord> records;
  records.push_back(Structured("crm.leads", key, LeadCreatedV1("ev-dlq-a", "LA")));
  records.push_back(Structured("crm.leads", key, LeadCreatedV1("ev-dlq-b", "LB")));
  // An update before its lead exists: settled kRetry, so the partition is sought back here and
  // every later record below is delivered again after it was applied.
  records.push_back(Structured(
      "crm.leads", key,
      R"({"specversion":"1.0","id":"ev-dlq-x-update","source":"crm","type":"crm.lead.updated",)"
      R"("time":"2026-11-23T10:00:09Z","orgid":"org_1","data":{"lead_id":"LX",)"
      R"("status":"qualified","score":55}})"));
  // Two true duplicates: same ids as above, other offsets.
  constexpr int kTrueDuplicates = 2;
  records.push_back(Structured("crm.leads", key, LeadCreatedV1("ev-dlq-a", "LA")));
  records.push_back(Structured("crm.leads", key, LeadCreatedV1("ev-dlq-b", "LB")));
  // Over ingestd's 1 MiB max payload, and over what a Kafka producer may send by default.
  std::string oversized = LeadCreatedV1("ev-dlq-big", "LBIG");
  oversized.insert(oversized.find("Ann Example"), std::string(1'200'000, 'x'));
  const size_t oversized_bytes = oversized.size();
  records.push_back(Structured("crm.leads", key, oversized));
  records.push_back(Structured("crm.leads", key, LeadCreatedV1("ev-dlq-x", "LX")));
  ProduceAll(**producer, records);

  // First pass: 2 duplicates; the replay from the update on re-delivers both duplicates (and the
  // oversized message and LX), so at least 4 skips in all once the replay is through.
  const bool settled = WaitUntil(
      [&] {
        return QueryInt(env.db, "SELECT count(*) FROM events") == 4 &&
               QueryInt(env.db, "SELECT count(*) FROM dead_letters") == 1 &&
               MetricValue(port_file, "ingest_duplicates_total") +
                       MetricValue(port_file, "ingest_redeliveries_total") >=
                   2 * kTrueDuplicates;
      },
      30s);
  INFO(ingestd->LogTail(4000));
  REQUIRE(settled);
  CHECK(QueryInt(env.db, "SELECT attempts FROM events WHERE event_id='ev-dlq-x-update'") >= 2);
  CHECK(QueryText(env.db, "SELECT status FROM crm_leads WHERE lead_id='LX'") == "qualified");
  CHECK(MetricValue(port_file, "ingest_duplicates_total") == kTrueDuplicates);
  CHECK(MetricValue(port_file, "ingest_redeliveries_total") >= kTrueDuplicates);

  // The table keeps every byte; the DLQ gets the first 512 KiB and the original size.
  CHECK(QueryText(env.db, "SELECT reason FROM dead_letters") == "parse");
  CHECK(QueryInt(env.db, "SELECT length(payload) FROM dead_letters") ==
        static_cast<int64_t>(oversized_bytes));
  TopicRead leads_topic = AwaitTopic(env.cluster->bootstrap(), "crm.leads.dlq");
  auto& leads_arrived = leads_topic.arrived;
  auto& leads_dlq = leads_topic.records;
  CHECK(leads_arrived);
  REQUIRE(leads_dlq.ok());
  REQUIRE(!leads_dlq->empty());
  auto h = HeaderMap(leads_dlq->front());
  CHECK(h["reason"] == "parse");
  CHECK(h["payload_truncated"] == std::to_string(oversized_bytes));
  CHECK(leads_dlq->front().value.size() == 512u * 1024u);
  CHECK(leads_dlq->front().value == oversized.substr(0, 512 * 1024));
  CHECK(MetricValue(port_file, "ingest_dead_letter_publish_failures_total") == 0);

  // The rewind replays the oversized message too: it is already on the DLQ, so it is acked as a
  // redelivery (with the two duplicates and LX), not counted or published a second time.
  CHECK(WaitUntil(
      [&] {
        return MetricValue(port_file, "ingest_redeliveries_total") >= kTrueDuplicates + 2 &&
               QueryInt(env.db,
                        "SELECT count(*) FROM dead_letters WHERE published_at IS NOT NULL") == 1;
      },
      10s));
  CHECK(MetricValue(port_file, "ingest_dead_letters_total") == 1);
  leads_dlq = ReadTopic(env.cluster->bootstrap(), "crm.leads.dlq");
  REQUIRE(leads_dlq.ok());
  CHECK(leads_dlq->size() == 1);

  const ExitStatus exit = Terminate(*ingestd);
  CHECK(exit.exited);
  CHECK(exit.code == 0);
}

TEST_CASE(
    "a message that crashes ingestd on Kafka is dead-lettered as crash after max_attempts "
    "crashes, though the broker counts no deliveries",
    "[kafka][ingestd]") {
  // ingestd_crash_hook raises SIGSEGV on a message holding the marker. Kafka replays from the
  // last committed offset after each restart, so without a record that survives the crash this
  // would loop forever. One key: every lead on one partition, in order around the bad one.
  KafkaEnv env = StartEnv("ingestd-kafka-crash");
  auto producer = KafkaTestProducer::Create(env.cluster->bootstrap());
  REQUIRE(producer.ok());
  constexpr int kTotal = 30;
  std::vector<KafkaRecord> records;
  for (int i = 0; i < kTotal; ++i) {
    std::string lead = LeadCreatedV1("ev-crash-" + std::to_string(i), "LC" + std::to_string(i));
    if (i == 11) lead.replace(lead.find("\"Acme\""), 6, "\"ingestd-test-crash\"");
    records.push_back(Structured("crm.leads", "one-key", lead));
  }
  ProduceAll(**producer, records);

  SpawnOptions spawn;
  spawn.program = INGESTLAB_INGESTD_CRASH_HOOK;
  spawn.args = IngestdArgs(env.cluster->bootstrap(), env.db, "ingestd-c");
  spawn.args.insert(spawn.args.end(), {"--max-attempts", "3"});
  spawn.log_path = env.dir.Sub("ingestd-c.log");
  auto loop = ingestlab::testing::RunThroughCrashes(
      spawn,
      [&] {
        return QueryInt(env.db, "SELECT count(*) FROM dead_letters") == 1 &&
               QueryInt(env.db, "SELECT count(*) FROM crm_leads") == kTotal - 1;
      },
      10, 90'000);
  INFO(ReadFileTail(spawn.log_path, 8000));
  REQUIRE(loop.done);
  CHECK(loop.Crashes(SIGSEGV) == 3);
  CHECK(loop.deaths.size() == 3);
  CHECK(QueryText(env.db, "SELECT reason FROM dead_letters") == "crash");
  CHECK(QueryText(env.db, "SELECT error FROM dead_letters") ==
        "in flight during 3 crashes of the process, max_attempts is 3");
  CHECK(QueryInt(env.db, "SELECT count(*) FROM crm_leads WHERE lead_id = 'LC11'") == 0);
  CHECK(QueryInt(env.db, "SELECT count(DISTINCT event_id) FROM events") == kTotal - 1);
  CHECK(QueryInt(env.db, "SELECT count(*) FROM events") == kTotal - 1);
  auto h = HeaderMap(OnlyRecord(env.cluster->bootstrap(), "crm.leads.dlq"));
  CHECK(h["reason"] == "crash");
  CHECK(h["offset"] == "11");
  // Still up; the offsets move past the dead letter, so a restart replays nothing.
  CHECK(loop.process->Running());
  CHECK(WaitUntil(
      [&] {
        auto committed = CommittedOffsets(env.cluster->bootstrap(), "ingestd", "crm.leads");
        if (!committed.ok()) return false;
        for (auto& [partition, offset] : *committed) {
          if (offset == kTotal) return true;
        }
        return false;
      },
      15s));
  REQUIRE(loop.process->Signal(SIGTERM).ok());
  auto exit = loop.process->WaitExit(15'000);
  REQUIRE(exit.ok());
  CHECK(exit->code == 0);
  CHECK(QueryInt(env.db, "SELECT count(*) FROM in_flight") == 0);
  CHECK(QueryInt(env.db, "SELECT count(*) FROM crash_suspects") == 0);
}
