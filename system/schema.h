// SchemaRegistry: the versioned JSON Schemas of system/schemas/, one per (type, version).
// The schema files are compiled into the binary (system/schemas/*.json → embedded table), and a
// directory can override them at start-up. Validation supports the subset of JSON Schema the
// files use: type, required, properties, additionalProperties, enum, minimum, maximum,
// exclusiveMinimum, minLength, maxLength, pattern (RE2 syntax, linear-time, compiled once),
// items, format ("date-time", "date", "email").
// Thread-safety: immutable after Load*; Validate is safe from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "system/event.h"

namespace ingestlab {

class SchemaRegistry {
 public:
  virtual ~SchemaRegistry() = default;

  // The schemas compiled into this binary.
  static Result<std::unique_ptr<SchemaRegistry>> LoadEmbedded();
  // Every *.json file in `dir`, named <type>.v<version>.json. A bad file is an error naming it.
  static Result<std::unique_ptr<SchemaRegistry>> LoadDirectory(const std::string& dir);

  // OK, or Status::Schema naming the field and the rule ("data.amount: must be >= 0, got -3").
  // An event whose (type, version) has no schema is rejected: "no schema for type X version N".
  virtual Status Validate(const Event& event) const = 0;
  virtual bool Knows(std::string_view type, int version) const = 0;
  // Every known "type vN", sorted.
  virtual std::vector<std::string> List() const = 0;
};

}  // namespace ingestlab
