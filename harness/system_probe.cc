// See system_probe.h.
#include "harness/system_probe.h"

#include <sqlite3.h>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <functional>
#include <unordered_map>

#include "harness/dead_letter_tap.h"
#include "harness/sqlite_db.h"
#include "system/json_depth.h"

namespace ingestlab {
namespace {

constexpr size_t kMaxProbeRows = 10'000'000;

// The start of a rejected line, printable, for the error message.
std::string Excerpt(std::string_view line) {
  std::string out;
  for (char c : line.substr(0, 40)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return line.size() > 40 ? out + "…" : out;
}

// Adds `e` unless its id was seen before (`where` names its line or row for the error).
Status Add(ProbedEvent e, const std::string& where, std::vector<ProbedEvent>& out,
           std::unordered_map<std::string, std::string>& seen) {
  if (out.size() >= kMaxProbeRows) {
    return Status::InvalidArgument("state probe: more than " + std::to_string(kMaxProbeRows) +
                                   " event ids");
  }
  auto [it, fresh] = seen.emplace(e.event_id, where);
  if (!fresh) {
    return Status::InvalidArgument("state probe " + where + ": event id '" + Excerpt(e.event_id) +
                                   "' already reported at " + it->second);
  }
  out.push_back(std::move(e));
  return Status::Ok();
}

Status CheckId(std::string_view id, const std::string& where) {
  if (id.empty() || id.size() > kMaxProbeIdBytes) {
    return Status::InvalidArgument("state probe " + where + ": event_id must be 1 to " +
                                   std::to_string(kMaxProbeIdBytes) + " bytes");
  }
  return Status::Ok();
}

Result<ProbedEvent> ParseLine(std::string_view line, const std::string& where) {
  auto bad = [&](const std::string& what) {
    return Status::InvalidArgument("state probe " + where + ": " + what + " (" + Excerpt(line) +
                                   ")");
  };
  if (line.size() > kMaxProbeLineBytes) return bad("longer than 64 KiB");
  if (JsonNestedDeeperThan(line, 1)) return bad("not a flat JSON object");
  const auto doc = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return bad("not a JSON object");
  ProbedEvent e;
  const auto id = doc.find("event_id");
  if (id == doc.end() || !id->is_string()) return bad("event_id must be a string");
  e.event_id = id->get<std::string>();
  INGEST_RETURN_IF_ERROR(CheckId(e.event_id, where));
  const auto count = doc.find("count");
  if (count == doc.end() || !count->is_number_integer() || count->get<int64_t>() < 1) {
    return bad("count must be a whole number >= 1");
  }
  e.count = count->get<int64_t>();
  const auto committed = doc.find("committed_ms");
  if (committed != doc.end() && !committed->is_null()) {
    if (!committed->is_number_integer() || committed->get<int64_t>() < 0) {
      return bad("committed_ms must be a whole number >= 0");
    }
    e.committed_ms = committed->get<int64_t>();
  }
  return e;
}

}  // namespace

Result<std::vector<ProbedEvent>> ParseProbeLines(std::string_view body) {
  if (body.size() > kMaxProbeBytes) {
    return Status::InvalidArgument("state probe: answer larger than 256 MiB");
  }
  std::vector<ProbedEvent> out;
  std::unordered_map<std::string, std::string> seen;
  size_t line_no = 0;
  while (!body.empty()) {
    const size_t nl = body.find('\n');
    std::string_view line = body.substr(0, nl);
    body.remove_prefix(nl == std::string_view::npos ? body.size() : nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    const std::string where = "line " + std::to_string(line_no);
    auto e = ParseLine(line, where);
    if (!e.ok()) return e.status();
    INGEST_RETURN_IF_ERROR(Add(std::move(e).value(), where, out, seen));
  }
  return out;
}

void MergeProbed(const std::string& instance, std::vector<ProbedEvent> events, SystemState* state) {
  state->ids_by_instance[instance] += static_cast<int64_t>(events.size());
  for (ProbedEvent& e : events) {
    auto [it, fresh] = state->events.try_emplace(e.event_id, e);
    if (fresh) continue;
    it->second.count += e.count;
    if (e.committed_ms > 0 &&
        (it->second.committed_ms == 0 || e.committed_ms < it->second.committed_ms)) {
      it->second.committed_ms = e.committed_ms;
    }
  }
}

Result<std::vector<ProbedEvent>> ProbeHttp(const std::string& url, int64_t timeout_ms) {
  constexpr std::string_view kScheme = "http://";
  if (url.compare(0, kScheme.size(), kScheme) != 0 || url.size() == kScheme.size()) {
    return Status::InvalidArgument("state probe: URL must start with http://, got '" +
                                   Excerpt(url) + "'");
  }
  const size_t slash = url.find('/', kScheme.size());
  const std::string origin = url.substr(0, slash);
  const std::string path = slash == std::string::npos ? "/" : url.substr(slash);
  httplib::Client client(origin);
  client.set_connection_timeout(timeout_ms / 1000, (timeout_ms % 1000) * 1000);
  client.set_read_timeout(timeout_ms / 1000, (timeout_ms % 1000) * 1000);
  std::string body;
  bool too_large = false;
  auto res = client.Get(path, [&](const char* data, size_t n) {
    if (body.size() + n > kMaxProbeBytes) {
      too_large = true;
      return false;
    }
    body.append(data, n);
    return true;
  });
  if (too_large) return Status::InvalidArgument("state probe " + url + ": larger than 256 MiB");
  if (!res) {
    return Status::Transient("state probe " + url + ": " + httplib::to_string(res.error()));
  }
  if (res->status != 200) {
    return Status::Transient("state probe " + url + ": HTTP " + std::to_string(res->status));
  }
  return ParseProbeLines(body);
}

namespace {

// Runs `query` on the database at `db_path`, opened read-only, and calls `row` for each result
// row with its statement, "row N" and the column count, until `row` returns an error. `what`
// names the query in errors ("state probe query"), `shape` what it must return.
Status ForEachRow(const std::string& db_path, const std::string& query, const std::string& what,
                  const std::string& shape,
                  const std::function<Status(sqlite3_stmt*, const std::string&, int)>& row) {
  auto opened = OpenSqlite(db_path, SQLITE_OPEN_READONLY);
  if (!opened.ok()) return opened.status().Annotate(what);
  sqlite3* db = opened->get();
  sqlite3_stmt* st = nullptr;
  auto done = [&](Status s) {
    sqlite3_finalize(st);
    return s;
  };
  if (sqlite3_prepare_v2(db, query.c_str(), -1, &st, nullptr) != SQLITE_OK || st == nullptr) {
    return done(Status::InvalidArgument(what + ": " + std::string(sqlite3_errmsg(db))));
  }
  const int columns = sqlite3_column_count(st);
  if (columns < 2 || columns > 3) {
    return done(Status::InvalidArgument(what + " must return " + shape + ", got " +
                                        std::to_string(columns) + " columns"));
  }
  int rc;
  for (size_t n = 1; (rc = sqlite3_step(st)) == SQLITE_ROW; ++n) {
    if (Status s = row(st, "row " + std::to_string(n), columns); !s.ok()) return done(s);
  }
  if (rc != SQLITE_DONE) return done(Status::Io(what + ": " + std::string(sqlite3_errmsg(db))));
  return done(Status::Ok());
}

std::string ColumnBytes(sqlite3_stmt* st, int col) {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(st, col));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(st, col))) : std::string();
}

}  // namespace

Result<std::vector<ProbedEvent>> ProbeSqlite(const std::string& db_path, const std::string& query) {
  std::vector<ProbedEvent> out;
  std::unordered_map<std::string, std::string> seen;
  auto read = [&](sqlite3_stmt* st, const std::string& where, int columns) -> Status {
    if (sqlite3_column_type(st, 0) != SQLITE_TEXT || sqlite3_column_type(st, 1) != SQLITE_INTEGER) {
      return Status::InvalidArgument("state probe " + where +
                                     ": want event_id TEXT and count INTEGER");
    }
    ProbedEvent e;
    e.event_id = ColumnBytes(st, 0);
    INGEST_RETURN_IF_ERROR(CheckId(e.event_id, where));
    e.count = sqlite3_column_int64(st, 1);
    if (e.count < 1) return Status::InvalidArgument("state probe " + where + ": count < 1");
    if (columns == 3 && sqlite3_column_type(st, 2) != SQLITE_NULL) {
      if (sqlite3_column_type(st, 2) != SQLITE_INTEGER || sqlite3_column_int64(st, 2) < 0) {
        return Status::InvalidArgument("state probe " + where +
                                       ": committed_ms must be an INTEGER >= 0 or NULL");
      }
      e.committed_ms = sqlite3_column_int64(st, 2);
    }
    return Add(std::move(e), where, out, seen);
  };
  INGEST_RETURN_IF_ERROR(ForEachRow(db_path, query, "state probe query",
                                    "(event_id, count[, committed_ms])", read));
  return out;
}

Result<std::vector<DeadLetterRow>> ProbeSqliteDeadLetters(const std::string& db_path,
                                                          const std::string& query,
                                                          size_t max_rows, int64_t* total) {
  constexpr size_t kMaxPayload = 16u << 20;
  std::vector<DeadLetterRow> out;
  int64_t rows = 0;
  auto read = [&](sqlite3_stmt* st, const std::string& where, int columns) -> Status {
    ++rows;
    const int payload_type = sqlite3_column_type(st, 0);
    if ((payload_type != SQLITE_TEXT && payload_type != SQLITE_BLOB) ||
        sqlite3_column_type(st, 1) != SQLITE_TEXT) {
      return Status::InvalidArgument("dead-letter query " + where +
                                     ": want payload TEXT or BLOB and reason TEXT");
    }
    if (static_cast<size_t>(sqlite3_column_bytes(st, 0)) > kMaxPayload) {
      return Status::InvalidArgument("dead-letter query " + where + ": payload larger than 16 MiB");
    }
    if (out.size() >= max_rows) return Status::Ok();
    DeadLetterRow row;
    row.payload = ColumnBytes(st, 0);
    row.reason = ColumnBytes(st, 1).substr(0, 64);
    if (columns == 3) row.error = ColumnBytes(st, 2).substr(0, 1024);
    row.origin = "sql";
    row.event_id = EventIdOfPayload(row.payload);
    out.push_back(std::move(row));
    return Status::Ok();
  };
  INGEST_RETURN_IF_ERROR(
      ForEachRow(db_path, query, "dead-letter query", "(payload, reason[, error])", read));
  if (total) *total = rows;
  return out;
}

}  // namespace ingestlab
