// The SQLite ceiling under ingestd's store: plain prepared INSERTs into the store's own `events`
// table (its schema from system/store_schema.h, so the two cannot drift; the other tables stay
// empty; a 350-byte payload) in batched transactions, on a file in WAL mode with synchronous=FULL
// and the store's other pragmas. No decoding, no handlers: what one connection can commit.
//   BM_SqliteBatchedInsert/batch:4000/bg_checkpoint:1 — rows/s, one COMMIT (and fsync) per batch
//     of 4,000 (ingestd's default max_txn_messages); the WAL is checkpointed by a second
//     connection on its own thread, as the store does, so the writer never runs a checkpoint.
//   .../bg_checkpoint:0 — SQLite's default instead: the writer checkpoints inside COMMIT.
// Run: ./build/tests/sqlite_insert_bench
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include <benchmark/benchmark.h>

#include "system/store_schema.h"

namespace {

bool Exec(sqlite3* db, const char* sql) {
  return sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
}

void BM_SqliteBatchedInsert(benchmark::State& state) {
  const int64_t rows = 200'000;
  const int64_t batch = state.range(0);
  const auto dir =
      std::filesystem::temp_directory_path() / ("sqlite_insert_bench_" + std::to_string(getpid()));
  const std::string payload(350, 'p');
  for (auto _ : state) {
    state.PauseTiming();
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    sqlite3* db = nullptr;
    sqlite3_open((dir / "insert.db").c_str(), &db);
    if (!Exec(db, "PRAGMA journal_mode=WAL") || !Exec(db, "PRAGMA synchronous=FULL") ||
        !Exec(db, "PRAGMA temp_store=MEMORY") || !Exec(db, "PRAGMA cache_size=-65536") ||
        !ingestlab::EnsureStoreSchema(db).ok()) {
      state.SkipWithError(sqlite3_errmsg(db));
      sqlite3_close(db);
      break;
    }
    const bool background_checkpoint = state.range(1) != 0;
    sqlite3* checkpoint_db = nullptr;
    std::atomic<bool> stop{false};
    std::thread checkpointer;
    if (background_checkpoint) {
      Exec(db, "PRAGMA wal_autocheckpoint=0");
      sqlite3_open((dir / "insert.db").c_str(), &checkpoint_db);
      Exec(checkpoint_db, "PRAGMA synchronous=FULL");
      checkpointer = std::thread([&] {
        while (!stop.load()) {
          sqlite3_wal_checkpoint_v2(checkpoint_db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                    nullptr);
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      });
    }
    sqlite3_stmt* insert = nullptr;
    sqlite3_prepare_v2(db,
                       "INSERT INTO events (event_id, type, source, org_id, customer_id, "
                       "event_time, received_at, committed_at, attempts, payload, origin, dialect, "
                       "schema_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
                       "?12, ?13)",
                       -1, &insert, nullptr);
    state.ResumeTiming();
    bool ok = true;
    for (int64_t i = 0; i < rows && ok; i += batch) {
      ok = Exec(db, "BEGIN");
      for (int64_t j = i; j < std::min(rows, i + batch) && ok; ++j) {
        const std::string id = "evt-" + std::to_string(j);
        const std::string customer = "cust-" + std::to_string(j % 5000);
        const std::string origin = "CUSTOMER:" + std::to_string(j + 1);
        sqlite3_bind_text(insert, 1, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
        sqlite3_bind_text(insert, 2, "customer.purchase.recorded", -1, SQLITE_STATIC);
        sqlite3_bind_text(insert, 3, "billing-service", -1, SQLITE_STATIC);
        sqlite3_bind_text(insert, 4, "org-1", -1, SQLITE_STATIC);
        sqlite3_bind_text(insert, 5, customer.data(), static_cast<int>(customer.size()),
                          SQLITE_STATIC);
        sqlite3_bind_int64(insert, 6, 1'795'000'000'000 + j);
        sqlite3_bind_int64(insert, 7, 1'795'000'001'000 + j);
        sqlite3_bind_int64(insert, 8, 1'795'000'001'005 + j);
        sqlite3_bind_int64(insert, 9, 1);
        sqlite3_bind_blob(insert, 10, payload.data(), static_cast<int>(payload.size()),
                          SQLITE_STATIC);
        sqlite3_bind_text(insert, 11, origin.data(), static_cast<int>(origin.size()),
                          SQLITE_STATIC);
        sqlite3_bind_text(insert, 12, "customer", -1, SQLITE_STATIC);
        sqlite3_bind_int64(insert, 13, 1);
        ok = sqlite3_step(insert) == SQLITE_DONE;
        sqlite3_reset(insert);
      }
      ok = ok && Exec(db, "COMMIT");
    }
    state.PauseTiming();
    if (!ok) state.SkipWithError(sqlite3_errmsg(db));
    if (background_checkpoint) {
      stop = true;
      checkpointer.join();
      sqlite3_close(checkpoint_db);
    }
    sqlite3_finalize(insert);
    sqlite3_close(db);
    state.ResumeTiming();
  }
  std::filesystem::remove_all(dir);
  state.SetItemsProcessed(rows * state.iterations());
}
BENCHMARK(BM_SqliteBatchedInsert)
    ->ArgNames({"batch", "bg_checkpoint"})
    ->Args({4000, 1})
    ->Args({4000, 0})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
