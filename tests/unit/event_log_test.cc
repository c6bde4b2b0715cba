// Specification of the event log's writer and reader: the ordered writer's reorder buffer and
// stream watermarks, the events.acks sidecar and its merge, gzip streaming, and reading a log
// cut off at an arbitrary byte (plain or gzip) — plus a ServiceRun logging the same bytes twice.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/rng.h"
#include "harness/load_driver.h"
#include "harness/scenario.h"
#include "simulators/event_log.h"
#include "simulators/load_shape.h"
#include "simulators/publisher.h"
#include "simulators/simulation.h"
#include "tests/support/cli.h"

namespace fs = std::filesystem;
using namespace ingestlab;
using namespace ingestlab::sim;

namespace {

// A fresh directory per test case, removed at the end.
struct TempDir {
  explicit TempDir(const std::string& name)
      : path(fs::temp_directory_path() /
             ("ingestlab_event_log_test_" + std::to_string(::getpid()) + "_" + name)) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string File(const std::string& name) const { return (path / name).string(); }
  fs::path path;
};

std::string ReadBytes(const std::string& path) { return ingestlab::testing::ReadFileBytes(path); }

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

EventLogHeader Header() {
  EventLogHeader h;
  h.scenario = "unit";
  h.seed = 7;
  h.ingestlab_version = "0.1.0";
  h.git_commit = "abc";
  h.started_at_ms = 1'763'900'000'123;
  h.epoch_ms = 1'700'000'000'000;
  h.scenario_yaml = "name: unit\n";
  return h;
}

PublishRecord Publish(const std::string& service, uint64_t seq, int64_t offset_ms) {
  PublishRecord r;
  r.offset_ms = offset_ms;
  r.service = service;
  r.seq = seq;
  r.type = service + ".thing.happened";
  r.event_id = service + "-" + std::to_string(seq);
  r.transport = "jetstream";
  r.subject = r.type;
  r.payload = "{\"n\":" + std::to_string(seq) + "}";
  r.expected = "applied";
  return r;
}

// (offset, kind, service, seq) of each entry line, in file order.
using Key = std::tuple<int64_t, int, std::string, uint64_t>;
std::vector<Key> Keys(const std::string& text) {
  std::vector<Key> keys;
  for (const auto& line : Lines(text)) {
    const auto j = nlohmann::json::parse(line);
    if (j["kind"] == "header") continue;
    const bool fault = j["kind"] == "fault";
    keys.emplace_back(j["offset_ms"].get<int64_t>(), fault ? 0 : 1,
                      fault ? "" : j["service"].get<std::string>(),
                      fault ? 0 : j["seq"].get<uint64_t>());
  }
  return keys;
}

// Acknowledges every publish at once, on the caller's thread.
class InstantPublisher final : public Publisher {
 public:
  TransportKind transport() const override { return TransportKind::kJetStream; }
  Status Publish(const std::string&, const std::string&, const MessageHeaders&, std::string_view,
                 PublishDone done) override {
    done(PublishOutcome{true, "", 1});
    return Status::Ok();
  }
  Status Flush(std::chrono::milliseconds) override { return Status::Ok(); }
  void Close() override {}
};

}  // namespace

TEST_CASE("the ordered writer writes entries by (offset, faults first, service, seq)") {
  TempDir dir("order");
  const std::string path = dir.File("events.log");
  EventLogWriterOptions options;
  options.ordered = true;
  auto w = EventLogWriter::Create(path, Header(), options).value();

  SECTION("across threads, each a stream advancing its own watermark") {
    const std::vector<std::string> services = {"crm", "billing", "support"};
    std::vector<std::string> streams;
    for (const auto& s : services) streams.push_back(w->RegisterStream("service:" + s));
    const std::string timeline = w->RegisterStream("timeline", 250);
    std::atomic<int> failed_appends{0};  // Catch2 assertions are not for other threads
    std::vector<std::thread> threads;
    for (size_t i = 0; i < services.size(); ++i) {
      threads.emplace_back([&, i] {
        Rng rng(100 + i);
        int64_t offset = 0;
        for (uint64_t seq = 0; seq < 400; ++seq) {
          offset += static_cast<int64_t>(rng.NextU64() % 3);  // several per ms, like real load
          w->AdvanceStream(streams[i], offset);
          if (!w->Append(Publish(services[i], seq, offset)).ok()) ++failed_appends;
          if (seq % 50 == 0) std::this_thread::yield();
        }
        w->FinishStream(streams[i]);
      });
    }
    // Faults at times the services also publish at, appended from this thread.
    for (int64_t at : {250, 500, 500, 600}) {
      REQUIRE(w->Append(FaultRecord{at, "kill_ingestd", "ingestd-0", {}}).ok());
      w->AdvanceStream(timeline, at == 600 ? 600 : at);
    }
    w->FinishStream(timeline);
    for (auto& t : threads) t.join();
    CHECK(failed_appends == 0);
    REQUIRE(w->Close().ok());

    const std::vector<Key> keys = Keys(ReadBytes(path));
    REQUIRE(keys.size() == 3 * 400 + 4);
    CHECK(std::is_sorted(keys.begin(), keys.end()));
    // Faults at 500 come before the publishes at 500.
    auto first_at_500 =
        std::find_if(keys.begin(), keys.end(), [](const Key& k) { return std::get<0>(k) == 500; });
    REQUIRE(first_at_500 != keys.end());
    CHECK(std::get<1>(*first_at_500) == 0);
    CHECK(w->records() == 3 * 400 + 4);
  }

  SECTION("a record is written only once every registered stream has passed its time") {
    const std::string a = w->RegisterStream("a");
    const std::string b = w->RegisterStream("b");
    CHECK(w->RegisterStream("a") == "a#2");  // names are made unique
    w->FinishStream("a#2");
    w->AdvanceStream(a, 10);
    REQUIRE(w->Append(Publish("alpha", 1, 10)).ok());
    w->AdvanceStream(a, 30);
    REQUIRE(w->Flush().ok());
    CHECK(Keys(ReadBytes(path)).empty());  // b (at 0) may still write something earlier
    w->AdvanceStream(b, 10);
    REQUIRE(w->Flush().ok());
    CHECK(Keys(ReadBytes(path)).empty());  // b may still write at 10: alpha sorts after
    REQUIRE(w->Append(Publish("beta", 1, 10)).ok());
    w->AdvanceStream(b, 11);
    REQUIRE(w->Flush().ok());
    const std::vector<Key> released = Keys(ReadBytes(path));
    REQUIRE(released.size() == 2);
    CHECK(std::get<2>(released[0]) == "alpha");
    CHECK(std::get<2>(released[1]) == "beta");

    SECTION("Close leaves out what a stream still registered might have preceded") {
      REQUIRE(w->Append(Publish("alpha", 2, 40)).ok());
      REQUIRE(w->Append(Publish("beta", 2, 12)).ok());
      w->FinishStream(a);
      // b is stopped at 20 (never finished): its cut is the end of the log.
      w->AdvanceStream(b, 20);
      REQUIRE(w->Close().ok());
      const std::vector<Key> keys = Keys(ReadBytes(path));
      REQUIRE(keys.size() == 3);
      CHECK(std::get<0>(keys.back()) == 12);
    }
    SECTION("Close writes the rest once every stream finished") {
      REQUIRE(w->Append(Publish("alpha", 2, 40)).ok());
      w->FinishStream(a);
      w->FinishStream(b);
      REQUIRE(w->Close().ok());
      CHECK(Keys(ReadBytes(path)).size() == 3);
    }
  }

  SECTION("the flusher thread writes releasable lines without an explicit Flush") {
    REQUIRE(w->Append(Publish("crm", 0, 5)).ok());  // no stream registered: releasable
    bool seen = false;
    for (int i = 0; i < 100 && !seen; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      seen = Keys(ReadBytes(path)).size() == 1;
    }
    CHECK(seen);  // within 100 ms plus scheduling slack
    REQUIRE(w->Close().ok());
  }
}

TEST_CASE("observations go to the sidecar and ReadEventLog merges them") {
  TempDir dir("sidecar");
  const std::string path = dir.File("events.log");
  auto w = EventLogWriter::Create(path, Header()).value();
  CHECK(w->acks_path() == dir.File("events.acks"));
  for (uint64_t seq = 0; seq < 4; ++seq) REQUIRE(w->Append(Publish("crm", seq, 10 * seq)).ok());
  // Outcomes arrive in any order; seq 3 never gets one (a run killed before the broker answered).
  REQUIRE(w->AppendOutcome("crm", 2, 25, false, "timeout").ok());
  REQUIRE(w->AppendOutcome("crm", 0, 3, true, "").ok());
  REQUIRE(w->AppendOutcome("crm", 1, 14, true, "").ok());
  REQUIRE(w->Close().ok());

  const std::string text = ReadBytes(path);
  CHECK(text.find("started_at_ms") == std::string::npos);  // no wall clock in the log
  CHECK(text.find("acked") == std::string::npos);
  CHECK(ReadBytes(dir.File("events.acks")).rfind("{\"kind\":\"run\",\"started_at_ms\":", 0) == 0);

  auto log = ReadEventLog(path);
  REQUIRE(log.ok());
  CHECK(log->has_outcomes);
  CHECK(log->header.started_at_ms == Header().started_at_ms);
  CHECK(log->header.epoch_ms == Header().epoch_ms);
  CHECK(log->header.scenario_yaml == "name: unit\n");
  REQUIRE(log->publishes.size() == 4);
  CHECK(log->publishes[0].acked);
  CHECK(log->publishes[0].published_ms == 3);
  CHECK(log->publishes[1].published_ms == 14);
  CHECK(log->publishes[1].scheduled_ms == 10);
  CHECK_FALSE(log->publishes[2].acked);
  CHECK(log->publishes[2].publish_error == "timeout");
  CHECK_FALSE(log->publishes[3].acked);  // no outcome recorded
  CHECK(log->publishes[3].publish_error.empty());

  SECTION("copies of one event (same seq) keep their own outcomes through their message number") {
    const std::string copies = dir.File("copies.log");
    auto cw = EventLogWriter::Create(copies, Header()).value();
    for (uint64_t msg = 1; msg <= 3; ++msg) {
      PublishRecord r = Publish("auth", 11, 100);  // an original, a malformed copy, a duplicate
      r.msg = msg;
      REQUIRE(cw->Append(r).ok());
    }
    REQUIRE(cw->AppendOutcome("auth", 2, 101, false, "payload too large").ok());
    REQUIRE(cw->AppendOutcome("auth", 3, 102, true, "").ok());
    REQUIRE(cw->AppendOutcome("auth", 1, 100, true, "").ok());
    REQUIRE(cw->Close().ok());
    auto read = ReadEventLog(copies);
    REQUIRE(read.ok());
    REQUIRE(read->publishes.size() == 3);
    for (uint64_t i = 0; i < 3; ++i) CHECK(read->publishes[i].msg == i + 1);  // in msg order
    CHECK(read->publishes[0].acked);
    CHECK_FALSE(read->publishes[1].acked);
    CHECK(read->publishes[1].publish_error == "payload too large");
    CHECK(read->publishes[2].acked);
    CHECK(read->publishes[2].published_ms == 102);
  }

  SECTION("without a sidecar (an imported log) every publish counts as acked at its offset") {
    fs::remove(dir.File("events.acks"));
    auto bare = ReadEventLog(path);
    REQUIRE(bare.ok());
    CHECK_FALSE(bare->has_outcomes);
    CHECK(bare->header.started_at_ms == Header().epoch_ms);
    for (const auto& p : bare->publishes) {
      CHECK(p.acked);
      CHECK(p.published_ms == p.offset_ms);
    }
  }
  SECTION("a cut-off last sidecar line is skipped, a broken middle line is an error") {
    std::string acks = ReadBytes(dir.File("events.acks"));
    WriteBytes(dir.File("events.acks"), acks.substr(0, acks.size() - 10));
    auto cut = ReadEventLog(path);
    REQUIRE(cut.ok());
    CHECK(cut->publishes[2].publish_error == "timeout");
    CHECK_FALSE(cut->publishes[1].acked);  // its line was the one cut off
    WriteBytes(dir.File("events.acks"), "{\"kind\":\"run\",\"started_at_ms\":1}\nnope\n" + acks);
    CHECK_FALSE(ReadEventLog(path).ok());
  }
  SECTION("a writer without a sidecar (an importer) leaves publishes acked at their offset") {
    EventLogWriterOptions options;
    options.write_acks = false;
    auto w2 = EventLogWriter::Create(path, Header(), options).value();
    CHECK(w2->acks_path().empty());
    CHECK_FALSE(fs::exists(dir.File("events.acks")));  // the earlier one is gone
    PublishRecord r = Publish("crm", 0, 70);
    REQUIRE(w2->Append(r).ok());
    REQUIRE(w2->AppendOutcome("crm", 0, 75, false, "refused").ok());  // dropped
    REQUIRE(w2->Close().ok());
    auto back = ReadEventLog(path);
    REQUIRE(back.ok());
    CHECK_FALSE(back->has_outcomes);
    REQUIRE(back->publishes.size() == 1);
    CHECK(back->publishes[0].acked);
    CHECK(back->publishes[0].published_ms == 70);
  }
  SECTION("a record that carries its outcome writes it too (importers, one-off publishes)") {
    const std::string one = dir.File("one.log");
    auto w1 = EventLogWriter::Create(one, Header()).value();
    PublishRecord r = Publish("auth", 9, 0);
    r.acked = true;
    r.published_ms = 42;
    REQUIRE(w1->Append(r).ok());
    REQUIRE(w1->Close().ok());
    auto back = ReadEventLog(one);
    REQUIRE(back.ok());
    REQUIRE(back->publishes.size() == 1);
    CHECK(back->publishes[0].acked);
    CHECK(back->publishes[0].published_ms == 42);
    CHECK(fs::exists(dir.File("one.acks")));
  }
}

TEST_CASE("a compressed log is gzip, streamed, and reads back like a plain one") {
  TempDir dir("gzip");
  EventLogWriterOptions options;
  options.compress = true;
  auto w = EventLogWriter::Create(dir.File("events.log"), Header(), options).value();
  CHECK(w->path() == dir.File("events.log.gz"));
  CHECK(w->acks_path() == dir.File("events.acks.gz"));
  const size_t header_bytes = fs::file_size(w->path());  // the header is flushed at once
  REQUIRE(header_bytes > 20);
  std::vector<size_t> flush_points;
  constexpr uint64_t kRecords = 3000;
  for (uint64_t seq = 0; seq < kRecords; ++seq) {
    PublishRecord r = Publish("billing", seq, static_cast<int64_t>(seq));
    r.payload += std::string(seq % 97, 'x');
    REQUIRE(w->Append(r).ok());
    REQUIRE(
        w->AppendOutcome("billing", seq, static_cast<int64_t>(seq) + 1, seq % 10 != 0, "").ok());
    if (seq % 500 == 499) {
      REQUIRE(w->Flush().ok());
      flush_points.push_back(fs::file_size(w->path()));
    }
  }
  REQUIRE(w->Close().ok());
  const std::string bytes = ReadBytes(w->path());
  CHECK(static_cast<unsigned char>(bytes[0]) == 0x1f);
  CHECK(static_cast<unsigned char>(bytes[1]) == 0x8b);

  // Found with or without the .gz suffix; the sidecar is merged.
  for (const std::string& p : {dir.File("events.log"), dir.File("events.log.gz")}) {
    auto log = ReadEventLog(p);
    REQUIRE(log.ok());
    CHECK_FALSE(log->truncated_tail);
    REQUIRE(log->publishes.size() == kRecords);
    CHECK(log->publishes[1234].payload ==
          Publish("billing", 1234, 0).payload + std::string(1234 % 97, 'x'));
    CHECK(log->publishes[10].acked == false);
    CHECK(log->publishes[11].acked);
    CHECK(log->publishes[11].published_ms == 12);
    CHECK(log->header.started_at_ms == Header().started_at_ms);
  }
  CHECK(FindEventLog(dir.path.string()) == dir.File("events.log.gz"));
  const size_t plain_size = [&] {
    bool complete = false;
    return Gunzip(bytes, &complete).value().size();
  }();
  CHECK(bytes.size() * 3 < plain_size);  // it does compress

  SECTION("a gzip file cut at an arbitrary byte reads back a prefix with truncated_tail") {
    Rng rng(3);
    std::vector<size_t> cuts = {header_bytes, bytes.size() - 1};
    for (size_t p : flush_points) cuts.push_back(p);  // exactly at a sync flush point
    for (int i = 0; i < 12; ++i) {
      cuts.push_back(header_bytes + rng.NextU64() % (bytes.size() - header_bytes));
    }
    size_t previous_max = 0;
    for (size_t cut : cuts) {
      INFO("cut at byte " << cut << " of " << bytes.size());
      const std::string cut_path = dir.File("cut.log.gz");
      WriteBytes(cut_path, bytes.substr(0, cut));
      auto log = ReadEventLog(cut_path);
      REQUIRE(log.ok());
      CHECK(log->truncated_tail);
      CHECK(log->header.scenario == "unit");
      CHECK(log->publishes.size() <= kRecords);
      for (size_t k = 0; k < log->publishes.size(); ++k) REQUIRE(log->publishes[k].seq == k);
      previous_max = std::max(previous_max, log->publishes.size());
    }
    CHECK(previous_max > kRecords / 2);  // cuts late in the file keep most of it
    // Cut at the first sync flush point: everything written before the flush is there.
    WriteBytes(dir.File("flushed.log.gz"), bytes.substr(0, flush_points[0]));
    CHECK(ReadEventLog(dir.File("flushed.log.gz"))->publishes.size() == 500);
  }
}

TEST_CASE("a plain log cut mid-line reads back the lines before the cut") {
  TempDir dir("plain_cut");
  const std::string path = dir.File("events.log");
  auto w = EventLogWriter::Create(path, Header()).value();
  for (uint64_t seq = 0; seq < 50; ++seq) REQUIRE(w->Append(Publish("auth", seq, 2 * seq)).ok());
  REQUIRE(w->Close().ok());
  const std::string text = ReadBytes(path);
  const std::vector<std::string> lines = Lines(text);
  // Cut in the middle of entry 30 (line 31).
  size_t cut = 0;
  for (size_t i = 0; i < 31; ++i) cut += lines[i].size() + 1;
  cut += lines[31].size() / 2;
  WriteBytes(path, text.substr(0, cut));
  auto log = ReadEventLog(path);
  REQUIRE(log.ok());
  CHECK(log->truncated_tail);
  REQUIRE(log->publishes.size() == 30);
  CHECK(log->publishes.back().seq == 29);
}

TEST_CASE("a service run logs the same bytes twice, at scheduled times, rate steps included") {
  TempDir dir("service_run");
  auto run_once = [&](const std::string& name) {
    const std::string path = dir.File(name);
    EventLogWriterOptions options;
    options.ordered = true;
    auto w = EventLogWriter::Create(path, Header(), options).value();
    ManualClock clock(1'700'000'000'000);
    InstantPublisher publisher;
    ServiceRunOptions o;
    o.stream.service = "support";
    o.stream.seed = 11;
    o.stream.faults = FaultSpec::Parse("duplicate=0.05,out_of_order=0.1").value();
    o.shape = LoadShape::Parse("poisson", 50, 4).value();
    o.duration_seconds = 4;
    o.start_unix_ms = 1'600'000'000'000;
    auto run = ServiceRun::Create(o, &publisher, w.get(), &clock).value();
    run->SetRate(500, 2'000'000'000);  // planned before the run: exactly at 2 s
    REQUIRE(run->Run().ok());
    REQUIRE(w->Close().ok());
    const auto s = run->stats();
    CHECK(s.sent == s.acked);
    return std::make_pair(ReadBytes(path), s.sent);
  };
  const auto [first, sent] = run_once("a.log");
  const auto [second, sent_again] = run_once("b.log");
  CHECK(first == second);
  CHECK(sent == sent_again);
  auto log = ParseEventLog(first).value();
  REQUIRE(log.publishes.size() == sent);
  size_t before = 0, after = 0;
  for (const auto& p : log.publishes) {
    CHECK(p.offset_ms <= 4000);  // held-back messages go out at the end of the duration
    (p.offset_ms < 2000 ? before : after)++;
  }
  CHECK(before > 60);  // ~100 at 50/s
  CHECK(before < 150);
  CHECK(after > 800);  // ~1000 at 500/s
  const std::vector<Key> keys = Keys(first);
  CHECK(std::is_sorted(keys.begin(), keys.end()));
}

TEST_CASE("a run's log is compressed when the scenario expects over 200,000 publishes") {
  Scenario s;
  s.duration_s = 60;
  ServiceSpec billing;
  billing.name = "billing";
  billing.rate = 2000;
  ServiceSpec crm;
  crm.name = "crm";
  crm.rate = 1000;
  s.services = {billing, crm};
  CHECK_FALSE(ShouldCompressEventLog(s));  // 180,000
  s.services[1].rate = 1400;
  CHECK(ShouldCompressEventLog(s));  // 204,000
  s.duration_s = 10;
  CHECK_FALSE(ShouldCompressEventLog(s));
}
