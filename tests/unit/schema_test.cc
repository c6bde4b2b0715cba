// Specification of the schema registry: every CATALOG.md type has a schema, each supported JSON
// Schema keyword is enforced with a message naming the path and the rule, the customer_id rule,
// and load-time rejection of bad schema files (unknown keywords, bad names, bad JSON).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "system/schema.h"

using namespace ingestlab;
namespace fs = std::filesystem;

namespace {

// Validates `data_json` (or no data when empty) as an event of (type, version).
class Validator {
 public:
  explicit Validator(const SchemaRegistry& registry) : registry_(registry) {}

  Status Check(const std::string& type, int version, const std::string& data_json,
               const std::string& envelope_customer_id = "") {
    Event e;
    e.type = type;
    e.schema_version = version;
    e.customer_id = envelope_customer_id;
    if (!data_json.empty()) {
      simdjson::dom::element root;
      REQUIRE(parser_.parse(data_json).get(root) == simdjson::SUCCESS);
      e.data = DataView(root);
    }
    return registry_.Validate(e);
  }

 private:
  const SchemaRegistry& registry_;
  simdjson::dom::parser parser_;
};

std::unique_ptr<SchemaRegistry> Embedded() {
  auto loaded = SchemaRegistry::LoadEmbedded();
  REQUIRE(loaded.ok());
  return std::move(loaded).value();
}

// A temporary schema directory, removed at scope exit.
class SchemaDir {
 public:
  SchemaDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("ingest_schema_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~SchemaDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(path_ / name) << text;
  }
  Result<std::unique_ptr<SchemaRegistry>> Load() const {
    return SchemaRegistry::LoadDirectory(path_.string());
  }

 private:
  fs::path path_;
};

// The "type" or "type vN" names in CATALOG.md's tables.
std::set<std::string> CatalogTypes() {
  std::ifstream in(std::string(INGESTLAB_SOURCE_DIR) + "/system/schemas/CATALOG.md");
  REQUIRE(in.good());
  const std::regex type_cell(R"(^\s*([a-z_]+(?:\.[a-z_]+)+)(?: v(\d+))?\s*$)");
  std::set<std::string> types;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("|", 0) != 0) continue;
    std::stringstream cells(line.substr(1));
    std::string cell;
    for (int column = 0; column < 2 && std::getline(cells, cell, '|'); ++column) {
      std::smatch m;
      if (std::regex_match(cell, m, type_cell)) {
        types.insert(m[1].str() + " v" + (m[2].matched ? m[2].str() : "1"));
        break;
      }
    }
  }
  return types;
}

}  // namespace

TEST_CASE("every CATALOG.md type has exactly one schema per version, and no others exist") {
  auto registry = Embedded();
  const std::set<std::string> catalog = CatalogTypes();
  CHECK(catalog.size() >= 45);
  CHECK(catalog.count("crm.lead.created v2") == 1);
  CHECK(catalog.count("customer.event.recorded v1") == 1);
  const std::vector<std::string> listed = registry->List();
  CHECK(std::is_sorted(listed.begin(), listed.end()));
  CHECK(std::set<std::string>(listed.begin(), listed.end()) == catalog);
  CHECK(registry->Knows("crm.lead.created", 1));
  CHECK(registry->Knows("crm.lead.created", 2));
  CHECK_FALSE(registry->Knows("crm.lead.created", 3));
  CHECK_FALSE(registry->Knows("billing.purchase", 1));

  SECTION("the schema files on disk load the same set as the embedded copy") {
    auto from_dir =
        SchemaRegistry::LoadDirectory(std::string(INGESTLAB_SOURCE_DIR) + "/system/schemas");
    REQUIRE(from_dir.ok());
    CHECK(from_dir.value()->List() == listed);
  }
}

TEST_CASE("catalog rules: required fields, enums and ranges") {
  auto registry = Embedded();
  Validator v(*registry);
  SECTION("required data fields") {
    CHECK(v.Check("billing.purchase.completed", 1, R"({"customer_id":"c","amount":5})").message() ==
          "data.purchase_id: required field is missing");
    CHECK(v.Check("billing.purchase.completed", 1, "").message() ==
          "data.purchase_id: required field is missing");
    CHECK(v.Check("focus.ping", 1, R"({"session_id":"s","learner_id":"l"})").message() ==
          "data.focused: required field is missing");
  }
  SECTION("a required customer_id may come from the envelope") {
    const std::string data = R"({"purchase_id":"p","amount":5})";
    CHECK(v.Check("billing.purchase.completed", 1, data).message() ==
          "data.customer_id: required field is missing");
    CHECK(v.Check("billing.purchase.completed", 1, data, "cust_1").ok());
    CHECK(v.Check("support.note.added", 1, R"({"note":"likes email"})", "cust_1").ok());
    // Only customer_id: other ids are never taken from the envelope.
    CHECK(v.Check("learning.session.started", 1, R"({"session_id":"s"})", "l1").message() ==
          "data.learner_id: required field is missing");
  }
  SECTION("ranges, enums, patterns and formats from the catalog") {
    struct Case {
      const char* type;
      const char* data;
      const char* message;
    };
    const Case cases[] = {
        {"billing.purchase.completed", R"({"purchase_id":"p","customer_id":"c","amount":-3})",
         "data.amount: must be >= 0, got -3"},
        {"billing.purchase.completed",
         R"({"purchase_id":"p","customer_id":"c","amount":3,"currency":"usd"})",
         "data.currency: must match pattern ^[A-Z]{3}$, got \"usd\""},
        {"billing.purchase.completed",
         R"({"purchase_id":"p","customer_id":"c","amount":3,"quantity":0})",
         "data.quantity: must be >= 1, got 0"},
        {"billing.purchase.completed",
         R"({"purchase_id":"p","customer_id":"c","amount":3,"quantity":1.5})",
         "data.quantity: must be an integer, got 1.5"},
        {"billing.purchase.completed", R"({"purchase_id":"p","customer_id":"c","amount":"3"})",
         "data.amount: must be a number, got \"3\""},
        {"billing.customer.created", R"({"customer_id":"c","email":"not-an-email"})",
         "data.email: must be an email address, got \"not-an-email\""},
        {"billing.invoice.issued",
         R"({"invoice_id":"i","customer_id":"c","amount":1,"due_date":"next week"})",
         "data.due_date: must match pattern "
         R"(^[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))?$)"
         ", got \"next week\""},
        {"support.ticket.opened",
         R"({"ticket_id":"t","customer_id":"c","title":"x","priority":"extreme"})",
         "data.priority: must be one of low, medium, high, urgent; got \"extreme\""},
        {"support.ticket.opened", R"({"ticket_id":"t","customer_id":"c","title":""})",
         "data.title: must be at least 1 characters long, got \"\""},
        {"support.ticket.updated", R"({"ticket_id":"t","status":"done"})",
         "data.status: must be one of open, pending, in_progress, resolved, closed; got \"done\""},
        {"support.note.added", R"({"customer_id":"c","note":"n","tags":["a",7]})",
         "data.tags[1]: must be a string, got 7"},
        {"auth.user.login.failed", R"({"email":"x@y.z","reason":"forgot"})",
         "data.reason: must be one of user_not_found, invalid_password, inactive_account; got "
         "\"forgot\""},
        {"learning.activity.completed",
         R"({"activity_id":"a","session_id":"s","learner_id":"l","score":101})",
         "data.score: must be <= 100, got 101"},
        {"learning.skill.mastered", R"({"learner_id":"l","skill":"algebra","level":11})",
         "data.level: must be <= 10, got 11"},
        {"focus.ping", R"({"session_id":"s","learner_id":"l","focused":"yes"})",
         "data.focused: must be a boolean, got \"yes\""},
        {"crm.opportunity.created", R"({"opportunity_id":"o","name":"Deal","stage":"won"})",
         "data.stage: must be one of prospecting, qualification, proposal, negotiation; got "
         "\"won\""},
    };
    for (const Case& c : cases) {
      INFO(c.type << " " << c.data);
      const Status st = v.Check(c.type, 1, c.data);
      CHECK(st.code() == Status::Code::kSchema);
      CHECK(st.message() == c.message);
    }
  }
  SECTION("valid events pass, including unknown extra fields") {
    CHECK(v.Check("billing.purchase.completed", 1,
                  R"({"purchase_id":"p","customer_id":"c","amount":0,"currency":"EUR",)"
                  R"("quantity":3,"warranty_expires":1765670400,"gift_wrap":true})")
              .ok());
    CHECK(v.Check("billing.invoice.issued", 1,
                  R"({"invoice_id":"i","customer_id":"c","amount":1,"due_date":"2026-01-31"})")
              .ok());
    CHECK(v.Check("billing.invoice.issued", 1,
                  R"({"invoice_id":"i","customer_id":"c","amount":1,)"
                  R"("due_date":"2026-01-31T12:00:00+02:00"})")
              .ok());
    CHECK(
        v.Check("support.ticket.opened", 1,
                R"({"ticket_id":"t","customer_id":"c","title":")" + std::string(500, 'x') + R"("})")
            .ok());
    CHECK(
        v.Check("support.ticket.opened", 1,
                R"({"ticket_id":"t","customer_id":"c","title":")" + std::string(501, 'x') + R"("})")
            .message() == "data.title: must be at most 500 characters long, got 501 characters");
  }
  SECTION("customer.* types are lenient: every field optional") {
    for (const char* type :
         {"customer.purchase.recorded", "customer.ticket.opened", "customer.repair.requested",
          "customer.contact.recorded", "customer.profile.updated", "customer.note.added",
          "customer.event.recorded"}) {
      INFO(type);
      CHECK(v.Check(type, 1, "").ok());
      CHECK(v.Check(type, 1, R"({"email":"customer@example.com"})").ok());
    }
    CHECK(v.Check("customer.event.recorded", 1, R"({"anything":[1,{"x":null}]})").ok());
    CHECK(v.Check("customer.profile.updated", 1, R"({"tags":["vip","b2b"]})").ok());
    CHECK(v.Check("customer.profile.updated", 1, R"({"tags":"vip"})").ok());
  }
  SECTION("an unknown type or version") {
    CHECK(v.Check("billing.coupon.used", 1, "{}").message() ==
          "no schema for type billing.coupon.used version 1");
    CHECK(v.Check("billing.purchase.completed", 2, "{}").message() ==
          "no schema for type billing.purchase.completed version 2");
  }
}

TEST_CASE("each supported keyword is enforced") {
  SchemaDir dir;
  dir.Write("test.keywords.v1.json", R"({
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "test.keywords.v1",
    "title": "keywords", "description": "one property per keyword", "$comment": "test",
    "type": "object",
    "required": ["name"],
    "properties": {
      "name": {"type": "string", "minLength": 2, "maxLength": 4, "default": "ab", "examples": ["ab"]},
      "code": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]+$"},
      "count": {"type": "integer", "minimum": 1, "maximum": 9},
      "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
      "maybe": {"type": ["string", "null"]},
      "color": {"enum": ["red", 2, true, null]},
      "when": {"type": "string", "format": "date-time"},
      "day": {"type": "string", "format": "date"},
      "mail": {"type": "string", "format": "email"},
      "list": {"type": "array", "items": {"type": "integer", "minimum": 0}},
      "closed": {"type": "object", "properties": {"a": {"type": "boolean"}},
                 "additionalProperties": false, "required": ["a"]},
      "numbers": {"type": "object", "additionalProperties": {"type": "number"}}
    }
  })");
  auto loaded = dir.Load();
  REQUIRE(loaded.ok());
  Validator v(*loaded.value());
  auto check = [&](const std::string& fields) {
    return v.Check("test.keywords", 1, R"({"name":"abc")" + fields + "}");
  };
  CHECK(check("").ok());
  struct Case {
    const char* fields;
    const char* message;  // nullptr: valid
  };
  const Case cases[] = {
      // type
      {R"(,"count":"3")", "data.count: must be an integer, got \"3\""},
      {R"(,"count":3.0)", nullptr},
      {R"(,"maybe":null)", nullptr},
      {R"(,"maybe":1)", "data.maybe: must be a string or null, got 1"},
      // minLength / maxLength count code points
      {R"(,"name":"a")", "data.name: must be at least 2 characters long, got \"a\""},
      {R"(,"name":"ééé")", nullptr},
      {R"(,"name":"abcde")", "data.name: must be at most 4 characters long, got 5 characters"},
      // pattern
      {R"(,"code":"AB-12")", nullptr},
      {R"(,"code":"ab-12")", "data.code: must match pattern ^[A-Z]{2}-[0-9]+$, got \"ab-12\""},
      // minimum / maximum
      {R"(,"count":0)", "data.count: must be >= 1, got 0"},
      {R"(,"count":10)", "data.count: must be <= 9, got 10"},
      // exclusiveMinimum / exclusiveMaximum
      {R"(,"ratio":0.5)", nullptr},
      {R"(,"ratio":0)", "data.ratio: must be > 0, got 0"},
      {R"(,"ratio":1)", "data.ratio: must be < 1, got 1"},
      // enum of mixed kinds
      {R"(,"color":"red")", nullptr},
      {R"(,"color":2.0)", nullptr},
      {R"(,"color":true)", nullptr},
      {R"(,"color":null)", nullptr},
      {R"(,"color":"blue")", "data.color: must be one of red, 2, true, null; got \"blue\""},
      {R"(,"color":false)", "data.color: must be one of red, 2, true, null; got false"},
      // format
      {R"(,"when":"2025-12-12T10:30:00+01:00")", nullptr},
      {R"(,"when":"2025-12-12")", "data.when: must be an RFC 3339 date-time, got \"2025-12-12\""},
      {R"(,"day":"2025-12-12")", nullptr},
      {R"(,"day":"2025-02-30")", "data.day: must be an RFC 3339 date, got \"2025-02-30\""},
      {R"(,"mail":"a@b.c")", nullptr},
      {R"(,"mail":"a b@c")", "data.mail: must be an email address, got \"a b@c\""},
      {R"(,"mail":"@c")", "data.mail: must be an email address, got \"@c\""},
      // items
      {R"(,"list":[0,1,2])", nullptr},
      {R"(,"list":[0,-1])", "data.list[1]: must be >= 0, got -1"},
      {R"(,"list":{"0":1})", "data.list: must be an array, got {\"0\":1}"},
      // required and additionalProperties false, nested
      {R"(,"closed":{"a":true})", nullptr},
      {R"(,"closed":{})", "data.closed.a: required field is missing"},
      {R"(,"closed":{"a":true,"b":1})",
       "data.closed.b: unexpected field (additionalProperties is false)"},
      // additionalProperties as a schema
      {R"(,"numbers":{"x":1,"y":2.5})", nullptr},
      {R"(,"numbers":{"x":1,"y":"2"})", "data.numbers.y: must be a number, got \"2\""},
  };
  for (const Case& c : cases) {
    INFO(c.fields);
    const Status st = check(c.fields);
    if (c.message == nullptr) {
      CHECK(st.ok());
      CHECK(st.message().empty());
    } else {
      CHECK(st.code() == Status::Code::kSchema);
      CHECK(st.message() == c.message);
    }
  }
  CHECK(v.Check("test.keywords", 1, R"({"code":"AB-1"})").message() ==
        "data.name: required field is missing");
}

TEST_CASE("bad schema files are load errors naming the file and the problem") {
  SchemaDir dir;
  struct Case {
    const char* name;
    const char* text;
    const char* message_part;
  };
  const Case cases[] = {
      {"a.b.v1.json", R"({"type":"object","properties":{"x":{"type":"string","minLenght":1}}})",
       "schema file a.b.v1.json: data.x: unknown keyword 'minLenght'"},
      {"a.b.v1.json", R"({"type":"object","requird":["x"]})",
       "schema file a.b.v1.json: data: unknown keyword 'requird'"},
      {"a.b.v1.json", R"({"type":"object",)", "schema file a.b.v1.json: not valid JSON"},
      {"a.b.v1.json", R"({"type":"strnig"})", "schema file a.b.v1.json: data: unknown type"},
      {"a.b.v1.json", R"({"type":"string"})",
       "schema file a.b.v1.json: top-level type must be object"},
      {"a.b.v1.json", R"({"properties":{"x":{"pattern":"([a-z"}}})",
       "schema file a.b.v1.json: data.x: 'pattern' ([a-z is not a valid regex"},
      {"a.b.v1.json", R"({"properties":{"x":{"format":"uuid"}}})",
       "schema file a.b.v1.json: data.x: unsupported format \"uuid\""},
      {"a.b.v1.json", R"({"properties":{"x":{"minimum":"0"}}})",
       "schema file a.b.v1.json: data.x: 'minimum' must be a number"},
      {"a.b.v1.json", R"({"$id":"a.c.v1"})",
       "schema file a.b.v1.json: $id \"a.c.v1\" does not match the file name"},
      {"a.b.json", R"({})", "schema file a.b.json: name must be <type>.v<version>.json"},
      {"a.b.v0.json", R"({})", "schema file a.b.v0.json: name must be <type>.v<version>.json"},
  };
  for (const Case& c : cases) {
    INFO(c.name << " " << c.text);
    SchemaDir one;
    one.Write(c.name, c.text);
    auto loaded = one.Load();
    REQUIRE_FALSE(loaded.ok());
    CHECK_THAT(loaded.status().message(), Catch::StartsWith(c.message_part));
  }
  SECTION("a missing or empty directory") {
    CHECK_FALSE(SchemaRegistry::LoadDirectory("/nonexistent/schemas").ok());
    CHECK_FALSE(dir.Load().ok());
  }
}

TEST_CASE("one registry validates from many threads at once") {
  auto registry = Embedded();
  std::vector<int> wrong(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      simdjson::dom::parser parser;
      for (int i = 0; i < 2000; ++i) {
        const bool valid = (i + t) % 2 == 0;
        const std::string json =
            std::string(R"({"purchase_id":"p","customer_id":"c","currency":")") +
            (valid ? "USD" : "usd") + R"(","amount":)" + std::to_string(i) + "}";
        simdjson::dom::element root;
        if (parser.parse(json).get(root) != simdjson::SUCCESS) {
          ++wrong[t];
          continue;
        }
        Event e;
        e.type = "billing.purchase.completed";
        e.data = DataView(root);
        if (registry->Validate(e).ok() != valid) ++wrong[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(wrong == std::vector<int>(4, 0));
}

TEST_CASE("a pattern runs in linear time on a field as long as the payload limit") {
  // The invoice's due_date pattern without its maxLength: only the regex engine stands between a
  // 200,000-digit fraction and the stack. A backtracking engine recursed once per character here.
  SchemaDir dir;
  dir.Write("test.long.v1.json", R"({"type":"object","properties":{"due_date":{"type":"string",
    "pattern":"^[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))?$"}}})");
  auto loaded = dir.Load();
  REQUIRE(loaded.ok());
  Validator v(*loaded.value());
  const std::string digits(200'000, '7');
  CHECK(v.Check("test.long", 1, R"({"due_date":"2024-01-01T00:00:00.)" + digits + R"(Z"})").ok());
  const Status bad =
      v.Check("test.long", 1, R"({"due_date":"2024-01-01T00:00:00.)" + digits + R"(Q"})");
  CHECK(bad.code() == Status::Code::kSchema);
  CHECK_THAT(bad.message(), Catch::StartsWith("data.due_date: must match pattern"));
  // 1 MiB of a character class repeated: still one pass.
  const std::string mib(1 << 20, 'a');
  CHECK(v.Check("test.long", 1, R"({"due_date":")" + mib + R"("})").code() ==
        Status::Code::kSchema);
}

TEST_CASE("the embedded schemas cap the length of every string field they name") {
  auto registry = Embedded();
  Validator v(*registry);
  const std::string digits(200'000, '7');
  const Status st = v.Check("billing.invoice.issued", 1,
                            R"({"invoice_id":"i","customer_id":"c","amount":1,)"
                            R"("due_date":"2024-01-01T00:00:00.)" +
                                digits + R"(Z"})");
  CHECK(st.code() == Status::Code::kSchema);
  CHECK(st.message() == "data.due_date: must be at most 64 characters long, got 200021 characters");
  CHECK(v.Check("billing.invoice.issued", 1,
                R"({"invoice_id":")" + std::string(129, 'i') + R"(","customer_id":"c","amount":1})")
            .message() ==
        "data.invoice_id: must be at most 128 characters long, got 129 characters");

  // Every string property of every schema file carries a maxLength (docs/envelopes.md, "Limits").
  std::vector<std::string> unbounded;
  std::function<void(const nlohmann::json&, const std::string&)> walk =
      [&](const nlohmann::json& node, const std::string& path) {
        const auto type = node.value("type", nlohmann::json());
        const bool is_string =
            type == "string" ||
            (type.is_array() && std::find(type.begin(), type.end(), "string") != type.end());
        if (is_string && !node.contains("maxLength")) unbounded.push_back(path);
        if (node.contains("properties")) {
          for (auto& [name, child] : node["properties"].items()) walk(child, path + "." + name);
        }
        if (node.contains("items")) walk(node["items"], path + "[]");
      };
  int files = 0;
  for (const auto& entry :
       fs::directory_iterator(std::string(INGESTLAB_SOURCE_DIR) + "/system/schemas")) {
    if (entry.path().extension() != ".json") continue;
    ++files;
    std::ifstream in(entry.path());
    walk(nlohmann::json::parse(in), entry.path().filename().string() + ":data");
  }
  CHECK(files >= 40);
  CHECK(unbounded == std::vector<std::string>{});
}

TEST_CASE("a pattern the linear-time engine cannot run is a load error") {
  SchemaDir dir;
  dir.Write("a.b.v1.json", R"({"properties":{"x":{"type":"string","pattern":"^(a)\\1$"}}})");
  auto loaded = dir.Load();
  REQUIRE_FALSE(loaded.ok());
  CHECK_THAT(loaded.status().message(),
             Catch::StartsWith(
                 "schema file a.b.v1.json: data.x: 'pattern' ^(a)\\1$ is not a valid regex"));
}
