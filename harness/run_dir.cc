// Run directories and scenario names; see run_dir.h.
#include "harness/run_dir.h"

#include <filesystem>
#include <fstream>

namespace ingestlab {
namespace fs = std::filesystem;
namespace {

// The name as it may be printed on one line: control and non-ASCII bytes as \xNN.
std::string Printable(const std::string& s) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s.substr(0, 200)) {
    if (c < 0x20 || c >= 0x7f || c == '\\') {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > 200) out += "...";
  return out;
}

bool IsNameChar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// What is wrong with a scenario name, or "" when nothing is.
std::string ScenarioNameProblem(const std::string& name) {
  if (name.empty()) return "is empty";
  if (name.size() > kMaxScenarioNameLength) {
    return "is longer than " + std::to_string(kMaxScenarioNameLength) + " characters";
  }
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return "contains a control character";
  }
  if (name.find('/') != std::string::npos) return "contains '/'";
  if (name.front() == '.') return "starts with '.'";
  if (name.find("..") != std::string::npos) return "contains '..'";
  for (unsigned char c : name) {
    if (!IsNameChar(c)) return "contains '" + Printable(std::string(1, static_cast<char>(c))) + "'";
  }
  return "";
}

}  // namespace

Status ValidateScenarioName(const std::string& name) {
  const std::string problem = ScenarioNameProblem(name);
  if (problem.empty()) return Status::Ok();
  return Status::InvalidArgument("scenario name '" + Printable(name) + "' " + problem +
                                 " (a name is 1 to " + std::to_string(kMaxScenarioNameLength) +
                                 " of A-Z a-z 0-9 . _ - and does not start with '.')");
}

bool IsRunDirectory(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(dir, ec))) return false;
  for (const char* name : {kRunDirMarker, "result.json", "events.log", "events.log.gz"}) {
    if (fs::is_regular_file(fs::symlink_status(fs::path(dir) / name, ec))) return true;
  }
  return false;
}

Status CheckReplaceable(const std::string& dir) {
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(dir, ec);
  if (!fs::exists(st)) return Status::Ok();
  if (fs::is_symlink(st)) {
    return Status::InvalidArgument(dir + " is a symbolic link: refusing to replace it");
  }
  if (!fs::is_directory(st)) {
    return Status::InvalidArgument(dir + " exists and is not a directory: refusing to replace it");
  }
  if (IsRunDirectory(dir)) return Status::Ok();
  const bool empty = fs::is_empty(dir, ec);
  if (ec) return Status::InvalidArgument("cannot read " + dir + ": " + ec.message());
  if (empty) return Status::Ok();
  return Status::InvalidArgument(dir + " is not empty and is not an ingestlab run directory (no " +
                                 kRunDirMarker +
                                 ", result.json or events.log in it): refusing to replace it");
}

Status PrepareRunDirectory(const std::string& dir, const std::string& what) {
  INGEST_RETURN_IF_ERROR(CheckReplaceable(dir));
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) return Status::Io("cannot remove " + dir + ": " + ec.message());
  fs::create_directories(dir, ec);
  if (ec) return Status::Io("cannot create " + dir + ": " + ec.message());
  std::ofstream marker(fs::path(dir) / kRunDirMarker, std::ios::trunc);
  marker << "ingestlab " << what << " directory: ingestlab may delete and recreate it\n";
  if (!marker.flush()) return Status::Io("cannot write " + dir + "/" + kRunDirMarker);
  return Status::Ok();
}

}  // namespace ingestlab
