// Specification of the Pipeline (system/pipeline.h): ack only after commit, group commit,
// dead letters recorded in the transaction (the outbox) before the ack, retries with growing
// jittered delays, max_deliveries, in-process retry of a busy database, backpressure, and Stop
// draining the queue. Uses a journaling fake Store so the order of effects is observable, and the
// real EnvelopeDecoder.
#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "system/metrics.h"
#include "system/pipeline.h"
#include "system/schema.h"
#include "system/store.h"

using namespace ingestlab;

namespace {

// Every call is appended to one journal, shared with the settlement and publish callbacks, so a
// test can check the order in which things happened across the writer thread.
class Journal {
 public:
  void Add(std::string entry) {
    std::lock_guard<std::mutex> lock(mu_);
    entries_.push_back(std::move(entry));
  }
  std::vector<std::string> entries() const {
    std::lock_guard<std::mutex> lock(mu_);
    return entries_;
  }
  size_t IndexOf(const std::string& entry) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i] == entry) return i;
    }
    return SIZE_MAX;
  }
  size_t Count(const std::string& entry) const {
    std::lock_guard<std::mutex> lock(mu_);
    size_t n = 0;
    for (const auto& e : entries_) n += e == entry;
    return n;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> entries_;
};

class FakeStore final : public Store {
 public:
  explicit FakeStore(Journal* journal) : journal_(journal) {}

  Status Begin() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (failing_begins > 0) {
      --failing_begins;
      journal_->Add("begin-failed");
      return Status::Io("disk I/O error");
    }
    if (busy_begins > 0) {
      --busy_begins;
      journal_->Add("begin-busy");
      return Status::Transient("database is locked");
    }
    if (in_txn_) misuse = true;
    in_txn_ = true;
    journal_->Add("begin");
    return Status::Ok();
  }
  Status Commit() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!in_txn_) misuse = true;
    in_txn_ = false;
    for (auto& [id, origin] : pending_ids_) ids_[id] = origin;
    for (auto& r : pending_dead_) dead_letters.push_back(r);
    pending_ids_.clear();
    pending_dead_.clear();
    ++commits;
    journal_->Add("commit");
    return Status::Ok();
  }
  void Rollback() override {
    std::lock_guard<std::mutex> lock(mu_);
    in_txn_ = false;
    pending_ids_.clear();
    pending_dead_.clear();
    journal_->Add("rollback");
  }
  Result<ApplyOutcome> ApplyEvent(const Event& event, const RawMessage& msg) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!in_txn_) misuse = true;
      journal_->Add("apply:" + event.id);
    }
    // The hook runs without the store's lock: hooks wait on gates the test thread holds while
    // it calls into the store (a lock-order cycle ThreadSanitizer reports).
    if (apply_hook) {
      Status st = apply_hook(event);
      if (!st.ok()) return st;
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (auto* seen : {&ids_, &pending_ids_}) {
      auto it = seen->find(event.id);
      if (it != seen->end()) {
        return it->second == msg.origin ? ApplyOutcome::kRedelivered : ApplyOutcome::kDuplicate;
      }
    }
    pending_ids_[event.id] = msg.origin;
    return ApplyOutcome::kApplied;
  }
  Result<DeadLetterState> RecordDeadLetter(const DeadLetterRecord& record) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!in_txn_) misuse = true;
    journal_->Add("dead:" + record.origin);
    for (const auto* rows : {&dead_letters, &pending_dead_}) {
      for (const auto& r : *rows) {
        // Idempotent per message: origin and payload.
        if (r.origin == record.origin && r.payload == record.payload) {
          return DeadLetterState::kKnown;
        }
      }
    }
    pending_dead_.push_back(record);
    return DeadLetterState::kNew;
  }
  Status MarkInFlight(std::string_view owner,
                      const std::vector<std::string_view>& origins) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (in_txn_) misuse = true;
    std::string entry = "in-flight:";
    in_flight[std::string(owner)].assign(origins.begin(), origins.end());
    for (std::string_view o : origins) entry += std::string(o) + ",";
    journal_->Add(entry);
    return Status::Ok();
  }
  Status ClearInFlight(std::string_view owner,
                       const std::vector<std::string_view>& settled) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!in_txn_) misuse = true;
    // Applied at once: tests read these only after the pipeline settled its commits.
    in_flight.erase(std::string(owner));
    for (std::string_view o : settled) {
      crashes.erase(std::string(o));
      failures.erase(std::string(o));
    }
    journal_->Add("clear-in-flight");
    return Status::Ok();
  }
  Status RecordFailure(std::string_view origin, int count, std::string_view) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!in_txn_) misuse = true;
    journal_->Add("failure:" + std::string(origin) + ":" + std::to_string(count));
    failures[std::string(origin)] = count;  // tests read these only after the commit
    return Status::Ok();
  }
  Result<std::vector<MessageFailure>> MessageFailures() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (in_txn_) misuse = true;
    std::vector<MessageFailure> rows;
    for (const auto& [origin, count] : failures) rows.push_back({origin, count, first_failed_at});
    return rows;
  }
  Result<std::vector<std::pair<std::string, int>>> RecoverCrashes(std::string_view owner) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (in_txn_) misuse = true;
    for (const std::string& o : in_flight[std::string(owner)]) ++crashes[o];
    in_flight.erase(std::string(owner));
    journal_->Add("recover");
    return std::vector<std::pair<std::string, int>>(crashes.begin(), crashes.end());
  }
  Result<std::string> StateDigest() override { return Status::Internal("not used"); }

  // Test controls / observations (read after the pipeline settled).
  std::function<Status(const Event&)> apply_hook;
  std::atomic<int> busy_begins{0};
  std::atomic<int> failing_begins{0};  // Begin fails with an I/O error this many times
  bool misuse = false;
  int commits = 0;
  std::vector<DeadLetterRecord> dead_letters;
  std::map<std::string, std::vector<std::string>> in_flight;  // owner -> origins
  std::map<std::string, int> crashes;                         // origin -> crash count
  std::map<std::string, int> failures;                        // origin -> own failures
  int64_t first_failed_at = 0;  // what MessageFailures reports for every row
  size_t applied_ids() const { return ids_.size(); }

 private:
  Journal* journal_;
  std::mutex mu_;
  bool in_txn_ = false;
  std::map<std::string, std::string> ids_, pending_ids_;
  std::vector<DeadLetterRecord> pending_dead_;
};

std::string CloudEvent(const std::string& id) {
  return R"({"specversion":"1.0","id":")" + id +
         R"(","source":"billing","type":"billing.customer.created",)"
         R"("time":"2023-11-14T22:13:20Z","subject":"c-1",)"
         R"("data":{"customer_id":"c-1","email":"a@example.com","name":"Ann"}})";
}

RawMessage Message(const std::string& payload, const std::string& origin, int attempts = 1) {
  RawMessage m;
  m.payload = payload;
  m.transport = Transport::kJetStream;
  m.subject = "billing.customer.created";
  m.origin = origin;
  m.attempts = attempts;
  m.headers = {{"Nats-Msg-Id", origin}};
  return m;
}

// Collects the settlements of submitted batches, in submission order, on the writer thread.
class Settled {
 public:
  InboundBatch Batch(std::vector<RawMessage> messages, Journal* journal = nullptr) {
    InboundBatch b;
    b.messages = std::move(messages);
    const size_t slot = expected_++;
    b.on_settled = [this, slot, journal](std::vector<Settlement>&& s) {
      if (journal) journal->Add("settled:" + std::to_string(slot));
      std::lock_guard<std::mutex> lock(mu_);
      results_[slot] = std::move(s);
      cv_.notify_all();
    };
    return b;
  }
  // Waits (bounded) until every batch made so far has settled.
  bool WaitAll(std::chrono::seconds limit = std::chrono::seconds(5)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return results_.size() == expected_; });
  }
  std::vector<Settlement> of(size_t slot) {
    std::lock_guard<std::mutex> lock(mu_);
    return results_.at(slot);
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return results_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t expected_ = 0;
  std::map<size_t, std::vector<Settlement>> results_;
};

// Polls `done` for up to 5 s.
bool WaitFor(const std::function<bool()>& done) {
  for (int i = 0; i < 500 && !done(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

int64_t CounterValue(Metrics& m, const std::string& name, const Labels& labels = {}) {
  return m.counter(name, "", labels)->value();
}

struct Fixture {
  Journal journal;
  FakeStore store{&journal};
  Metrics metrics;
  ManualClock clock;
  Settled settled;
  PipelineOptions options;
  Fixture() {
    options.max_attempts = 5;
    options.dependency_wait_ms = 0;
    options.retry_base_ms = 100;
    options.retry_max_ms = 5'000;
  }
  std::unique_ptr<Pipeline> Make() {
    auto p = std::make_unique<Pipeline>(options, &store, nullptr, &metrics, &clock);
    p->SetDeadLetterListener([this] { journal.Add("outbox-woken"); });
    return p;
  }
  // A pipeline that applies e1 and e2 (nats:BILLING:1 and :2) in one batch, waits until both
  // are settled, and stops; the stopped pipeline.
  std::unique_ptr<Pipeline> ApplyTwoAndStop() {
    auto pipeline = Make();
    pipeline->Start();
    REQUIRE(pipeline->Submit(settled.Batch(
        {Message(CloudEvent("e1"), "nats:BILLING:1"), Message(CloudEvent("e2"), "nats:BILLING:2")},
        &journal)));
    REQUIRE(settled.WaitAll());
    pipeline->Stop();
    return pipeline;
  }
};

}  // namespace

TEST_CASE("a batch is settled only after the transaction that applied it commits") {
  Fixture f;
  auto pipeline = f.ApplyTwoAndStop();

  const auto s = f.settled.of(0);
  REQUIRE(s.size() == 2);
  CHECK(s[0].verdict == Verdict::kAck);
  CHECK(s[1].verdict == Verdict::kAck);
  const size_t commit = f.journal.IndexOf("commit");
  CHECK(f.journal.IndexOf("begin") < f.journal.IndexOf("apply:e1"));
  CHECK(f.journal.IndexOf("apply:e2") < commit);
  CHECK(commit < f.journal.IndexOf("settled:0"));
  CHECK_FALSE(f.store.misuse);
  CHECK(f.store.applied_ids() == 2);
  CHECK(CounterValue(f.metrics, "ingest_applied_total", {{"type", "billing.customer.created"}}) ==
        2);
  CHECK(CounterValue(f.metrics, "ingest_received_total", {{"transport", "nats"}}) == 2);
  CHECK(pipeline->last_commit_unix_ms() == f.clock.NowUnixMillis());
  CHECK(f.metrics.RenderPrometheus().find("ingest_last_commit_unix_ms") != std::string::npos);
}

TEST_CASE("duplicates and redeliveries are skipped and counted, and still acked") {
  Fixture f;
  auto pipeline = f.Make();
  pipeline->Start();
  pipeline->Submit(f.settled.Batch({Message(CloudEvent("e1"), "nats:BILLING:1")}));
  REQUIRE(f.settled.WaitAll());
  pipeline->Submit(f.settled.Batch({Message(CloudEvent("e1"), "nats:BILLING:1", 2),
                                    Message(CloudEvent("e1"), "nats:BILLING:9")}));
  REQUIRE(f.settled.WaitAll());
  pipeline->Stop();
  CHECK(f.settled.of(1)[0].verdict == Verdict::kAck);
  CHECK(f.settled.of(1)[1].verdict == Verdict::kAck);
  CHECK(CounterValue(f.metrics, "ingest_redeliveries_total") == 1);
  CHECK(CounterValue(f.metrics, "ingest_duplicates_total") == 1);
  CHECK(CounterValue(f.metrics, "ingest_applied_total", {{"type", "billing.customer.created"}}) ==
        1);
}

TEST_CASE("malformed and schema-invalid messages are dead-lettered in the transaction, then acked") {
  Fixture f;
  f.store.apply_hook = [](const Event& e) {
    return e.id == "bad-amount" ? Status::Schema("data.amount: must be >= 0, got -3")
                                : Status::Ok();
  };
  auto pipeline = f.Make();
  pipeline->Start();
  std::string missing_source = CloudEvent("no-source");
  missing_source.replace(missing_source.find(R"("source":"billing",)"),
                         std::string(R"("source":"billing",)").size(), "");
  pipeline->Submit(f.settled.Batch(
      {Message("{not json", "nats:BILLING:1"), Message(missing_source, "nats:BILLING:2"),
       Message(CloudEvent("bad-amount"), "nats:BILLING:3", 2),
       Message(CloudEvent("fine"), "nats:BILLING:4")},
      &f.journal));
  REQUIRE(f.settled.WaitAll());
  pipeline->Stop();

  const auto s = f.settled.of(0);
  for (const Settlement& one : s) CHECK(one.verdict == Verdict::kAck);
  REQUIRE(f.store.dead_letters.size() == 3);
  std::map<std::string, DeadLetterRecord> by_origin;
  for (const auto& r : f.store.dead_letters) by_origin[r.origin] = r;
  CHECK(by_origin.at("nats:BILLING:1").reason == "parse");
  CHECK(by_origin.at("nats:BILLING:1").payload == "{not json");
  CHECK(by_origin.at("nats:BILLING:2").reason == "schema");
  CHECK(by_origin.at("nats:BILLING:3").reason == "schema");
  CHECK(by_origin.at("nats:BILLING:3").error == "data.amount: must be >= 0, got -3");
  CHECK(by_origin.at("nats:BILLING:3").attempts == 2);
  CHECK(by_origin.at("nats:BILLING:3").headers == Headers{{"Nats-Msg-Id", "nats:BILLING:3"}});
  CHECK(by_origin.at("nats:BILLING:3").subject == "billing.customer.created");
  // Recorded inside the one transaction (the outbox), acked after the commit, and the outbox told.
  const size_t commit = f.journal.IndexOf("commit");
  CHECK(f.journal.IndexOf("dead:nats:BILLING:1") < commit);
  CHECK(commit < f.journal.IndexOf("settled:0"));
  CHECK(f.journal.IndexOf("settled:0") < f.journal.IndexOf("outbox-woken"));
  CHECK(f.journal.Count("commit") == 1);
  CHECK(f.journal.Count("outbox-woken") == 1);
  CHECK(CounterValue(f.metrics, "ingest_dead_letters_total", {{"reason", "parse"}}) == 1);
  CHECK(CounterValue(f.metrics, "ingest_dead_letters_total", {{"reason", "schema"}}) == 2);
  CHECK(f.store.applied_ids() == 1);
}

TEST_CASE("a replayed dead letter is acked as a redelivery: one row, counted once") {
  Fixture f;
  auto pipeline = f.Make();
  pipeline->Start();

  SECTION("replayed in a later transaction (Kafka seek-back, lost JetStream ack)") {
    pipeline->Submit(f.settled.Batch({Message("garbage", "nats:BILLING:7")}));
    REQUIRE(f.settled.WaitAll());
    pipeline->Submit(f.settled.Batch({Message("garbage", "nats:BILLING:7", 2)}));
    REQUIRE(f.settled.WaitAll());
    pipeline->Stop();
    CHECK(f.settled.of(0)[0].verdict == Verdict::kAck);
    CHECK(f.settled.of(1)[0].verdict == Verdict::kAck);
    CHECK(f.journal.Count("outbox-woken") == 1);  // the replay added nothing to publish
  }
  SECTION("replayed within the same transaction") {
    pipeline->Submit(f.settled.Batch(
        {Message("garbage", "nats:BILLING:7"), Message("garbage", "nats:BILLING:7", 2)}));
    REQUIRE(f.settled.WaitAll());
    pipeline->Stop();
    CHECK(f.settled.of(0)[0].verdict == Verdict::kAck);
    CHECK(f.settled.of(0)[1].verdict == Verdict::kAck);
  }
  CHECK(f.store.dead_letters.size() == 1);
  CHECK(CounterValue(f.metrics, "ingest_dead_letters_total", {{"reason", "parse"}}) == 1);
  CHECK(CounterValue(f.metrics, "ingest_redeliveries_total") == 1);
  CHECK_FALSE(f.store.misuse);
}

TEST_CASE("a message's own failures are counted, and retried with exponential jittered delays") {
  Fixture f;
  f.store.apply_hook = [](const Event&) {
    return Status::Waiting("waiting for purchase p-1");
  };
  f.options.max_attempts = 12;
  auto pipeline = f.Make();
  pipeline->Start();
  // The broker's delivery count plays no part: the store's count of failures does.
  for (int failure = 1; failure <= 8; ++failure) {
    pipeline->Submit(f.settled.Batch({Message(CloudEvent("x"), "nats:BILLING:1", 1)}));
    REQUIRE(f.settled.WaitAll());
  }
  pipeline->Stop();

  SECTION("each delay is base * 2^(failures-1) within ±20%, capped at retry_max_ms") {
    for (int failure = 1; failure <= 8; ++failure) {
      const Settlement s = f.settled.of(static_cast<size_t>(failure - 1))[0];
      CHECK(s.verdict == Verdict::kRetry);
      const double nominal = std::min(5000.0, 100.0 * (1 << (failure - 1)));
      CHECK(s.retry_delay_ms >= static_cast<int64_t>(nominal * 0.8));
      CHECK(s.retry_delay_ms <= static_cast<int64_t>(nominal * 1.2) + 1);
      CHECK(f.journal.Count("failure:nats:BILLING:1:" + std::to_string(failure)) == 1);
    }
    CHECK(f.store.failures.at("nats:BILLING:1") == 8);
    CHECK(CounterValue(f.metrics, "ingest_retries_total") == 8);
    CHECK(f.store.applied_ids() == 0);
  }
  SECTION("the jitter varies the delays") {
    std::set<int64_t> ratios;
    for (int failure = 1; failure <= 4; ++failure) {
      const Settlement s = f.settled.of(static_cast<size_t>(failure - 1))[0];
      ratios.insert(s.retry_delay_ms * 1000 / (100 << (failure - 1)));
    }
    CHECK(ratios.size() > 1);
  }
}

TEST_CASE("a store error under one message retries it without counting a failure") {
  Fixture f;
  f.store.apply_hook = [](const Event& e) {
    return e.id == "busy" ? Status::Transient("database is locked") : Status::Ok();
  };
  f.options.max_attempts = 2;
  auto pipeline = f.Make();
  pipeline->Start();
  for (int delivery = 1; delivery <= 5; ++delivery) {
    pipeline->Submit(f.settled.Batch({Message(CloudEvent("busy"), "nats:BILLING:1", delivery)}));
    REQUIRE(f.settled.WaitAll());
  }
  pipeline->Stop();
  for (size_t b = 0; b < 5; ++b) CHECK(f.settled.of(b)[0].verdict == Verdict::kRetry);
  CHECK(f.store.dead_letters.empty());
  CHECK(f.store.failures.empty());
}

TEST_CASE("the max_attempts-th failure of a message's own is max_deliveries") {
  Fixture f;
  f.store.apply_hook = [](const Event& e) {
    return e.id == "late" ? Status::Waiting("waiting for purchase p-1") : Status::Ok();
  };
  auto pipeline = f.Make();
  pipeline->Start();
  // Many deliveries (restarts, a stalled store) but no failure yet: applied normally.
  pipeline->Submit(f.settled.Batch({Message(CloudEvent("ok"), "nats:BILLING:6", 40)}));
  for (int failure = 1; failure <= 5; ++failure) {
    pipeline->Submit(f.settled.Batch({Message(CloudEvent("late"), "nats:BILLING:5", 1)}));
    REQUIRE(f.settled.WaitAll());
  }
  // An event applied earlier whose ack was lost: skipped, never dead-lettered, whatever its
  // delivery count.
  pipeline->Submit(f.settled.Batch({Message(CloudEvent("ok"), "nats:BILLING:6", 99)}));
  REQUIRE(f.settled.WaitAll());
  pipeline->Stop();
  CHECK(f.settled.of(0)[0].verdict == Verdict::kAck);
  for (size_t b = 1; b <= 4; ++b) CHECK(f.settled.of(b)[0].verdict == Verdict::kRetry);
  CHECK(f.settled.of(5)[0].verdict == Verdict::kAck);
  CHECK(f.settled.of(6)[0].verdict == Verdict::kAck);
  REQUIRE(f.store.dead_letters.size() == 1);
  CHECK(f.store.dead_letters[0].origin == "nats:BILLING:5");
  CHECK(f.store.dead_letters[0].reason == "max_deliveries");
  CHECK(f.store.dead_letters[0].error ==
        "failed 5 times over 0 s, max_attempts is 5; last error: waiting for purchase p-1");
  CHECK(f.store.dead_letters[0].attempts == 5);
  CHECK(f.store.applied_ids() == 1);
  CHECK(f.store.failures.empty());  // settled: its count is gone
  CHECK(CounterValue(f.metrics, "ingest_dead_letters_total", {{"reason", "max_deliveries"}}) == 1);
  CHECK(CounterValue(f.metrics, "ingest_redeliveries_total") == 1);
}

TEST_CASE("a message waiting for its dependency is dead-lettered only after dependency_wait_ms") {
  Fixture f;
  f.options.max_attempts = 3;
  f.options.dependency_wait_ms = 30'000;
  f.store.apply_hook = [](const Event& e) {
    return e.id == "late" ? Status::Waiting("waiting for purchase p-1")
                          : Status::Internal("handler rejected it");
  };
  auto pipeline = f.Make();
  pipeline->Start();
  auto deliver = [&](const char* id, const char* origin) {
    pipeline->Submit(f.settled.Batch({Message(CloudEvent(id), origin, 1)}));
    REQUIRE(f.settled.WaitAll());
    f.clock.Advance(std::chrono::seconds(5));
  };
  // Waiting: the 3rd..6th failures come before 30 s have passed; the 7th is at 30 s.
  for (int i = 1; i <= 6; ++i) deliver("late", "nats:BILLING:5");
  CHECK(f.store.dead_letters.empty());
  CHECK(f.store.failures.at("nats:BILLING:5") == 6);
  deliver("late", "nats:BILLING:5");
  REQUIRE(f.store.dead_letters.size() == 1);
  CHECK(f.store.dead_letters[0].error ==
        "failed 7 times over 30 s, max_attempts is 3; last error: waiting for purchase p-1");
  // Rejected by its handler: no waiting, max_attempts alone.
  for (int i = 1; i <= 3; ++i) deliver("bad", "nats:BILLING:9");
  pipeline->Stop();
  REQUIRE(f.store.dead_letters.size() == 2);
  CHECK(f.store.dead_letters[1].error ==
        "failed 3 times, max_attempts is 3; last error: handler rejected it");
}

TEST_CASE("failure counts survive a restart: read from the store at Start") {
  Fixture f;
  f.options.dependency_wait_ms = 60'000;
  f.store.failures["nats:BILLING:5"] = 4;  // left by an earlier run, a minute ago
  f.store.first_failed_at = f.clock.NowUnixMillis() - 60'000;
  f.store.apply_hook = [](const Event&) { return Status::Waiting("waiting for purchase p-1"); };
  auto pipeline = f.Make();
  pipeline->Start();
  pipeline->Submit(f.settled.Batch({Message(CloudEvent("late"), "nats:BILLING:5", 1)}));
  REQUIRE(f.settled.WaitAll());
  pipeline->Stop();
  CHECK(f.settled.of(0)[0].verdict == Verdict::kAck);
  REQUIRE(f.store.dead_letters.size() == 1);
  CHECK(f.store.dead_letters[0].reason == "max_deliveries");
}

TEST_CASE("queued batches are merged into one transaction, up to max_batch_messages") {
  Fixture f;
  auto msgs = [](int from, int n) {
    std::vector<RawMessage> v;
    for (int i = from; i < from + n; ++i) {
      v.push_back(
          Message(CloudEvent("g" + std::to_string(i)), "nats:BILLING:" + std::to_string(i)));
    }
    return v;
  };

  SECTION("batches that fit share one commit") {
    auto pipeline = f.Make();
    for (int b = 0; b < 4; ++b) REQUIRE(pipeline->Submit(f.settled.Batch(msgs(b * 3, 3))));
    CHECK(pipeline->queued_messages() == 12);
    pipeline->Start();
    REQUIRE(f.settled.WaitAll());
    pipeline->Stop();
    CHECK(f.store.commits == 1);
    auto* sizes = f.metrics.histogram("ingest_batch_size", "", Metrics::BatchSizeBounds());
    CHECK(sizes->count() == 1);
    CHECK(sizes->sum() == 12);
    CHECK(pipeline->queued_messages() == 0);
  }
  SECTION("a transaction never takes more than max_batch_messages from several batches") {
    f.options.max_batch_messages = 5;
    auto pipeline = f.Make();
    for (int b = 0; b < 4; ++b) REQUIRE(pipeline->Submit(f.settled.Batch(msgs(b * 3, 3))));
    pipeline->Start();
    REQUIRE(f.settled.WaitAll());
    pipeline->Stop();
    CHECK(f.store.commits == 4);
    CHECK(f.store.applied_ids() == 12);
  }
}

TEST_CASE("a failing transaction is retried in-process until it commits; nothing is sent back") {
  Fixture f;
  SECTION("busy many times (another process holds the write lock), then it goes through") {
    f.store.busy_begins = 60;
  }
  SECTION("I/O errors (disk full) many times, then it goes through") {
    f.store.failing_begins = 60;
  }
  auto pipeline = f.Make();
  pipeline->Start();
  pipeline->Submit(f.settled.Batch({Message(CloudEvent("b1"), "nats:BILLING:1"),
                                    Message(CloudEvent("b2"), "nats:BILLING:2")}));
  REQUIRE(f.settled.WaitAll());
  pipeline->Stop();
  for (const Settlement& s : f.settled.of(0)) CHECK(s.verdict == Verdict::kAck);
  CHECK(f.journal.Count("begin-busy") + f.journal.Count("begin-failed") == 60);
  CHECK(f.store.applied_ids() == 2);
  CHECK(CounterValue(f.metrics, "ingest_retries_total") == 0);
  CHECK(f.store.failures.empty());
}

TEST_CASE("Stop during a store outage hands the waiting messages back for redelivery") {
  Fixture f;
  f.store.busy_begins = 1'000'000;
  auto pipeline = f.Make();
  pipeline->Start();
  pipeline->Submit(f.settled.Batch({Message(CloudEvent("b1"), "nats:BILLING:1")}));
  REQUIRE(WaitFor([&] { return f.journal.Count("begin-busy") >= 3; }));
  pipeline->Stop();
  REQUIRE(f.settled.WaitAll());
  CHECK(f.settled.of(0)[0].verdict == Verdict::kRetry);
  CHECK(f.store.commits == 0);
  CHECK(f.store.failures.empty());
}

TEST_CASE("backpressure: TrySubmit refuses when full, Submit waits for room") {
  Fixture f;
  f.options.max_queue_messages = 4;
  auto pipeline = f.Make();
  auto three = [&](int base) {
    std::vector<RawMessage> v;
    for (int i = 0; i < 3; ++i) {
      const std::string n = std::to_string(base + i);
      v.push_back(Message(CloudEvent("q" + n), "nats:BILLING:" + n));
    }
    return v;
  };
  InboundBatch first = f.settled.Batch(three(0));
  REQUIRE(pipeline->TrySubmit(first));
  InboundBatch second = f.settled.Batch(three(3));
  CHECK_FALSE(pipeline->TrySubmit(second));
  CHECK(second.messages.size() == 3);  // left intact

  std::atomic<bool> returned{false};
  std::thread producer([&] {
    pipeline->Submit(std::move(second));
    returned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_FALSE(returned.load());
  pipeline->Start();
  producer.join();
  CHECK(returned.load());
  REQUIRE(f.settled.WaitAll());
  pipeline->Stop();
  CHECK(f.store.applied_ids() == 6);
}

TEST_CASE("backpressure by bytes: held until the writer has applied and settled them") {
  Fixture f;
  f.options.max_queue_bytes = 5 << 19;  // room for two of the ~1 MiB messages below, not three
  std::mutex gate;
  gate.lock();  // the writer stalls inside its first transaction until the test opens it
  f.store.apply_hook = [&](const Event&) {
    std::lock_guard<std::mutex> pass(gate);
    return Status::Ok();
  };
  auto pipeline = f.Make();
  auto big = [](int i) {
    std::string event = CloudEvent("m" + std::to_string(i));
    event.insert(event.find("\"name\""),
                 "\"padding\":\"" + std::string((1 << 20) - 1000, 'x') + "\",");
    return Message(event, "nats:BILLING:" + std::to_string(i));
  };
  pipeline->Start();
  InboundBatch one = f.settled.Batch({big(1)});
  REQUIRE(pipeline->TrySubmit(one));
  // The writer takes it off the queue, but its bytes stay held until it is settled.
  REQUIRE(WaitFor([&] { return pipeline->queued_messages() == 0; }));
  InboundBatch two = f.settled.Batch({big(2)});
  REQUIRE(pipeline->TrySubmit(two));
  InboundBatch three = f.settled.Batch({big(3)});
  CHECK_FALSE(pipeline->TrySubmit(three));  // 3 MiB and more would be held
  CHECK(f.metrics.gauge("ingest_queue_bytes", "")->value() > 2e6);
  gate.unlock();
  REQUIRE(pipeline->Submit(std::move(three)));  // room once the first two settle
  REQUIRE(f.settled.WaitAll());
  pipeline->Stop();
  CHECK(f.store.applied_ids() == 3);
  CHECK(f.metrics.gauge("ingest_queue_bytes", "")->value() == 0);
}

TEST_CASE("Stop settles everything queued and then refuses new batches") {
  Fixture f;
  auto pipeline = f.Make();
  for (int b = 0; b < 50; ++b) {
    std::vector<RawMessage> v;
    for (int i = 0; i < 10; ++i) {
      const std::string n = std::to_string(b * 10 + i);
      v.push_back(Message(CloudEvent("s" + n), "nats:BILLING:" + n));
    }
    REQUIRE(pipeline->Submit(f.settled.Batch(std::move(v))));
  }
  pipeline->Start();
  pipeline->Stop();
  CHECK(f.settled.count() == 50);
  CHECK(f.store.applied_ids() == 500);
  CHECK_FALSE(pipeline->Submit(f.settled.Batch({Message(CloudEvent("late"), "nats:BILLING:x")})));
  InboundBatch refused;
  refused.messages.push_back(Message(CloudEvent("late"), "nats:BILLING:y"));
  CHECK_FALSE(pipeline->TrySubmit(refused));
  CHECK(refused.messages.size() == 1);
}

TEST_CASE("an I/O error under one message rolls back the transaction, which is tried again") {
  Fixture f;
  std::atomic<int> io_errors{3};
  f.store.apply_hook = [&](const Event& e) {
    if (e.id == "io" && io_errors.load() > 0) {
      --io_errors;
      return Status::Io("database or disk is full");
    }
    return Status::Ok();
  };
  auto pipeline = f.Make();
  pipeline->Start();
  pipeline->Submit(f.settled.Batch({Message(CloudEvent("before"), "nats:BILLING:1"),
                                    Message(CloudEvent("io"), "nats:BILLING:2"),
                                    Message(CloudEvent("after"), "nats:BILLING:3")}));
  REQUIRE(f.settled.WaitAll());
  for (const Settlement& s : f.settled.of(0)) CHECK(s.verdict == Verdict::kAck);
  CHECK(f.journal.Count("rollback") == 3);
  CHECK(f.store.commits >= 1);
  CHECK(f.store.applied_ids() == 3);
  CHECK(f.journal.Count("apply:after") == 1);  // never reached while the error lasted
  CHECK(f.store.failures.empty());
  CHECK(pipeline->last_transaction_error().empty());  // cleared by the commit

  SECTION("the error is reported while it lasts") {
    io_errors = 1'000'000;
    pipeline->Submit(f.settled.Batch({Message(CloudEvent("io"), "nats:BILLING:4")}));
    REQUIRE(WaitFor([&] {
      return pipeline->last_transaction_error() == "io: database or disk is full";
    }));
    io_errors = 0;
    REQUIRE(f.settled.WaitAll());
    CHECK(f.settled.of(1)[0].verdict == Verdict::kAck);
    CHECK(pipeline->last_transaction_error().empty());
  }
  pipeline->Stop();
}

TEST_CASE("each transaction's messages are recorded in flight before it and cleared inside it") {
  Fixture f;
  f.options.instance_name = "ingestd-7";
  f.ApplyTwoAndStop();
  const size_t marked = f.journal.IndexOf("in-flight:nats:BILLING:1,nats:BILLING:2,");
  REQUIRE(marked != SIZE_MAX);
  CHECK(f.journal.IndexOf("recover") < marked);
  CHECK(marked < f.journal.IndexOf("begin"));
  CHECK(f.journal.IndexOf("apply:e2") < f.journal.IndexOf("clear-in-flight"));
  CHECK(f.journal.IndexOf("clear-in-flight") < f.journal.IndexOf("commit"));
  CHECK(f.store.in_flight.empty());
  CHECK_FALSE(f.store.misuse);
}

TEST_CASE("a clean stop after a failed transaction leaves no in-flight record to count") {
  Fixture f;
  // The transaction never gets through; Stop's own transaction does.
  f.store.apply_hook = [](const Event&) { return Status::Io("disk I/O error"); };
  auto pipeline = f.Make();
  pipeline->Start();
  pipeline->Submit(f.settled.Batch({Message(CloudEvent("b1"), "nats:BILLING:1")}));
  REQUIRE(WaitFor([&] { return f.journal.Count("rollback") >= 3; }));
  CHECK(f.store.in_flight.count("ingestd") == 1);
  pipeline->Stop();
  REQUIRE(f.settled.WaitAll());
  CHECK(f.settled.of(0)[0].verdict == Verdict::kRetry);
  CHECK(f.store.in_flight.empty());
  CHECK(f.store.crashes.empty());
}

TEST_CASE("messages in flight during a crash are applied one at a time, then forgotten") {
  Fixture f;
  // The previous run died applying these three: each is a suspect with one more crash.
  f.store.in_flight["ingestd"] = {"nats:BILLING:2", "nats:BILLING:4", "nats:BILLING:9"};
  f.store.crashes = {{"nats:BILLING:2", 1}};
  auto pipeline = f.Make();
  pipeline->Start();
  CHECK(f.metrics.gauge("ingest_crash_suspects", "")->value() == 3);
  REQUIRE(pipeline->Submit(f.settled.Batch(
      {Message(CloudEvent("e1"), "nats:BILLING:1"), Message(CloudEvent("e2"), "nats:BILLING:2"),
       Message(CloudEvent("e3"), "nats:BILLING:3"),
       // The crash's redelivery is not its own attempt.
       Message(CloudEvent("e4"), "nats:BILLING:4", 6)},
      &f.journal)));
  REQUIRE(f.settled.WaitAll());
  pipeline->Stop();

  // The innocent ones together, then each suspect alone, fewest crashes first, and one
  // settlement for the source's batch.
  const size_t rest = f.journal.IndexOf("in-flight:nats:BILLING:1,nats:BILLING:3,");
  const size_t two = f.journal.IndexOf("in-flight:nats:BILLING:2,");
  const size_t four = f.journal.IndexOf("in-flight:nats:BILLING:4,");
  CHECK(rest < four);
  CHECK(four < two);
  CHECK(two != SIZE_MAX);
  CHECK(f.journal.Count("commit") == 3);
  CHECK(f.journal.Count("settled:0") == 1);
  CHECK(f.journal.IndexOf("settled:0") > f.journal.IndexOf("apply:e4"));
  const auto s = f.settled.of(0);
  REQUIRE(s.size() == 4);
  for (const Settlement& one : s) CHECK(one.verdict == Verdict::kAck);
  CHECK(f.store.applied_ids() == 4);
  // Settled suspects are forgotten in the transaction that settled them; the one never seen
  // again keeps its count.
  CHECK(f.store.crashes == std::map<std::string, int>{{"nats:BILLING:9", 1}});
  CHECK(f.metrics.gauge("ingest_crash_suspects", "")->value() == 1);
  CHECK(f.store.dead_letters.empty());
}

TEST_CASE("a message in flight for max_attempts crashes is dead-lettered 'crash', not decoded") {
  Fixture f;
  f.options.max_attempts = 3;
  f.store.crashes = {{"kafka:billing.events:0:41", 2}, {"kafka:billing.events:0:40", 1}};
  f.store.in_flight["ingestd"] = {"kafka:billing.events:0:41", "kafka:billing.events:0:40"};
  auto pipeline = f.Make();
  pipeline->Start();
  auto kafka = [](RawMessage m) {
    m.transport = Transport::kKafka;
    return m;
  };
  REQUIRE(pipeline->Submit(
      f.settled.Batch({kafka(Message(CloudEvent("e40"), "kafka:billing.events:0:40")),
                       kafka(Message(CloudEvent("e41"), "kafka:billing.events:0:41")),
                       kafka(Message(CloudEvent("e42"), "kafka:billing.events:0:42"))})));
  REQUIRE(f.settled.WaitAll());
  pipeline->Stop();

  for (const Settlement& one : f.settled.of(0)) CHECK(one.verdict == Verdict::kAck);
  REQUIRE(f.store.dead_letters.size() == 1);
  const DeadLetterRecord& dead = f.store.dead_letters[0];
  CHECK(dead.origin == "kafka:billing.events:0:41");
  CHECK(dead.reason == "crash");
  CHECK(dead.error == "in flight during 3 crashes of the process, max_attempts is 3");
  CHECK(f.journal.Count("apply:e41") == 0);  // never decoded nor applied
  CHECK(f.journal.Count("apply:e40") == 1);  // two crashes: applied, alone
  CHECK(f.journal.Count("apply:e42") == 1);
  REQUIRE(f.store.dead_letters.size() == 1);
  CHECK(f.store.dead_letters[0].reason == "crash");
  CHECK(CounterValue(f.metrics, "ingest_dead_letters_total", {{"reason", "crash"}}) == 1);
  CHECK(f.store.crashes.empty());
}
