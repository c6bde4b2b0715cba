// ContextApi: seed 002's customer-context service, read from ingestd's store and served on its
// HTTP server (CONTRACT.md section 7; docs/ingestd.md, "Customer context API").
//
//   GET /v1/customers/{id}/context[?max_bytes=N][&sections=a,b]
//   GET /v1/customers/search?q=WORDS
//
// Every request carries `Authorization: Bearer TOKEN`; a token maps to one organisation
// (`api-token.ORG = TOKEN` in the config file). A caller sees only its organisation's customers:
// a customer of another organisation, or one without an organisation, answers 404 exactly as an
// unknown id does, and a section's rows are those of the caller's organisation only. A missing
// or unknown token answers 401 (tokens are compared in constant time).
//
// The context holds the profile (with lifetime value) and the sections, most important first:
// tickets (open), purchases (latest), work_orders (open), crm (leads, contacts and opportunities
// by the customer's e-mail), knowledge (latest notes) and learning (latest activities), at most
// kContextRowsPerSection rows each. `sections=` picks some (the profile always comes).
// `max_bytes` is the size budget of the whole JSON body (default 32768, the seed's 8,000 tokens at
// about four bytes each): the profile is always kept whole, then each section in order is kept
// whole while it fits, else cut to the rows that fit; "trimmed" lists each section cut, with the
// rows kept and the rows it had.
//
// Log lines name the organisation, the customer id and the outcome, never a profile field or a
// search text (which may hold a name or an e-mail address).
// Thread-safety: the handlers may run on any number of HTTP threads at once; reads share one
// store connection under a mutex.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "system/downstream.h"
#include "system/http_server.h"
#include "system/sql_connection.h"

namespace ingestlab {

inline constexpr int kContextRowsPerSection = 20;
inline constexpr int64_t kDefaultContextMaxBytes = 32768;

struct ContextApiOptions {
  std::string db_path;  // the store: a file or a postgres:// URL
  int busy_timeout_ms = 200;
  std::map<std::string, std::string> tokens;  // token -> organisation
  // The live sources (downstream.h), or null: each answer goes under "sources"; a source with
  // neither a live nor a cached answer is named in "missing_sources" and makes it "partial", one
  // answered from an expired cache entry is named in "stale_sources".
  Downstreams* downstreams = nullptr;
};

class ContextApi {
 public:
  explicit ContextApi(ContextApiOptions options);
  ~ContextApi();
  ContextApi(const ContextApi&) = delete;
  ContextApi& operator=(const ContextApi&) = delete;

  // Registers the routes. REQUIRES: before server.Start.
  void Register(HttpServer& server);

  HttpReply Context(const HttpRequest& request);
  HttpReply Search(const HttpRequest& request);

 private:
  struct Caller;
  HttpReply Route(const HttpRequest& request);
  // The caller's organisation, or a 401 reply in *denied.
  bool Authorize(const HttpRequest& request, std::string* org, HttpReply* denied) const;
  // The store connection, opened on first use and again after a failure.
  Result<SqlConnection*> Db();

  ContextApiOptions options_;
  std::mutex mu_;
  std::unique_ptr<SqlConnection> db_;  // guarded by mu_
};

// Parses `api-token` values: "ORG=TOKEN" (the command line's form). Errors name the value.
Status AddApiToken(const std::string& org, const std::string& token,
                   std::map<std::string, std::string>* tokens);

}  // namespace ingestlab
