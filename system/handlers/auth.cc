// auth.user.* handlers: users, logins, role assignments (CATALOG.md).
#include <string>

#include "system/handlers/registry.h"

namespace ingestlab::handlers {
namespace {

std::optional<std::string_view> Opt(const std::string& s) {
  return std::optional<std::string_view>(s);
}

// The user an event is about: data.user_id, else the envelope's customer_id.
std::string_view UserOf(const Event& e) {
  auto v = e.data.str("user_id");
  if (v && !v->empty()) return *v;
  return e.customer_id;
}

Status RequireUser(const Event& e, std::string_view* out) {
  *out = UserOf(e);
  if (out->empty()) return Status::Schema(e.type + ": data.user_id is required");
  return Status::Ok();
}

constexpr char kUpsertUser[] = R"sql(
INSERT INTO users(user_id, org_id, email, first_name, last_name, status, created_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT(user_id) DO UPDATE SET
  org_id = COALESCE(excluded.org_id, org_id),
  email = excluded.email,
  first_name = COALESCE(excluded.first_name, first_name),
  last_name = COALESCE(excluded.last_name, last_name),
  status = CASE WHEN deleted_at IS NULL THEN excluded.status ELSE status END,
  created_at = MIN(COALESCE(created_at, excluded.created_at), excluded.created_at))sql";

Status UserCreated(ApplyContext& ctx, const Event& e) {
  std::string_view user_id, email;
  INGEST_RETURN_IF_ERROR(RequireUser(e, &user_id));
  INGEST_RETURN_IF_ERROR(RequireText(e, "email", &email));
  INGEST_PREPARE(stmt, ctx, kUpsertUser);
  stmt->Bind(1, user_id);
  stmt->Bind(2, Opt(e.org_id));
  stmt->Bind(3, email);
  stmt->Bind(4, e.data.str("first_name"));
  stmt->Bind(5, e.data.str("last_name"));
  stmt->Bind(6, e.data.str("status").value_or("active"));
  stmt->Bind(7, e.event_time_ms);
  return stmt->Run();
}

constexpr char kDeleteUser[] =
    "UPDATE users SET deleted_at = ?2, status = 'deleted' WHERE user_id = ?1";

Status UserDeleted(ApplyContext& ctx, const Event& e) {
  std::string_view user_id;
  INGEST_RETURN_IF_ERROR(RequireUser(e, &user_id));
  INGEST_PREPARE(stmt, ctx, kDeleteUser);
  stmt->Bind(1, user_id);
  stmt->Bind(2, e.event_time_ms);
  INGEST_RETURN_IF_ERROR(stmt->Run());
  if (stmt->Changes() == 0) return WaitingFor("user", user_id);
  return Status::Ok();
}

constexpr char kInsertLogin[] = R"sql(
INSERT INTO logins(event_id, user_id, email, org_id, ok, reason, at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT(event_id) DO NOTHING)sql";

Status InsertLogin(ApplyContext& ctx, const Event& e, std::optional<std::string_view> user_id,
                   bool ok) {
  INGEST_PREPARE(stmt, ctx, kInsertLogin);
  stmt->Bind(1, std::string_view(e.id));
  stmt->Bind(2, user_id);
  stmt->Bind(3, e.data.str("email"));
  stmt->Bind(4, Opt(e.org_id));
  stmt->Bind(5, ok ? 1 : 0);
  stmt->Bind(6, e.data.str("reason"));
  stmt->Bind(7, e.event_time_ms);
  return stmt->Run();
}

constexpr char kLoginSucceeded[] = R"sql(
UPDATE users SET login_count = login_count + 1,
  last_login_at = MAX(COALESCE(last_login_at, ?2), ?2)
WHERE user_id = ?1)sql";

Status LoginSucceeded(ApplyContext& ctx, const Event& e) {
  std::string_view user_id;
  INGEST_RETURN_IF_ERROR(RequireUser(e, &user_id));
  {
    INGEST_PREPARE(stmt, ctx, kLoginSucceeded);
    stmt->Bind(1, user_id);
    stmt->Bind(2, e.event_time_ms);
    INGEST_RETURN_IF_ERROR(stmt->Run());
    if (stmt->Changes() == 0) return WaitingFor("user", user_id);
  }
  return InsertLogin(ctx, e, user_id, true);
}

constexpr char kFailedLoginById[] =
    "UPDATE users SET failed_login_count = failed_login_count + 1 WHERE user_id = ?1";
constexpr char kFailedLoginByEmail[] =
    "UPDATE users SET failed_login_count = failed_login_count + 1 WHERE email = ?1";

Status LoginFailed(ApplyContext& ctx, const Event& e) {
  std::string_view email;
  INGEST_RETURN_IF_ERROR(RequireText(e, "email", &email));
  const std::string_view user_id = UserOf(e);
  {
    // Failed logins are facts about an attempt, not about a user: they never wait for one.
    INGEST_PREPARE(stmt, ctx, user_id.empty() ? kFailedLoginByEmail : kFailedLoginById);
    stmt->Bind(1, user_id.empty() ? email : user_id);
    INGEST_RETURN_IF_ERROR(stmt->Run());
  }
  return InsertLogin(ctx, e, std::optional<std::string_view>(user_id), false);
}

constexpr char kUserExists[] = "SELECT 1 FROM users WHERE user_id = ?1";

constexpr char kUpsertRole[] = R"sql(
INSERT INTO user_roles(user_id, role_id, role_name, user_email, org_id, assigned_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT(user_id, role_id) DO UPDATE SET
  role_name = COALESCE(excluded.role_name, role_name),
  user_email = COALESCE(excluded.user_email, user_email),
  assigned_at = MAX(COALESCE(assigned_at, excluded.assigned_at), excluded.assigned_at))sql";

Status RoleAssigned(ApplyContext& ctx, const Event& e) {
  std::string_view user_id, role_id;
  INGEST_RETURN_IF_ERROR(RequireUser(e, &user_id));
  INGEST_RETURN_IF_ERROR(RequireText(e, "role_id", &role_id));
  {
    INGEST_PREPARE(exists, ctx, kUserExists);
    exists->Bind(1, user_id);
    auto row = exists->Step();
    if (!row.ok()) return row.status();
    if (!*row) return WaitingFor("user", user_id);
  }
  INGEST_PREPARE(stmt, ctx, kUpsertRole);
  stmt->Bind(1, user_id);
  stmt->Bind(2, role_id);
  stmt->Bind(3, e.data.str("role_name"));
  stmt->Bind(4, e.data.str("user_email"));
  stmt->Bind(5, Opt(e.org_id));
  stmt->Bind(6, e.event_time_ms);
  return stmt->Run();
}

constexpr char kRevokeRole[] = "DELETE FROM user_roles WHERE user_id = ?1 AND role_id = ?2";

// Waits for the assignment itself, not just the user: a revoke applied before its assignment
// would otherwise leave the role granted once the assignment arrives.
Status RoleRevoked(ApplyContext& ctx, const Event& e) {
  std::string_view user_id, role_id;
  INGEST_RETURN_IF_ERROR(RequireUser(e, &user_id));
  INGEST_RETURN_IF_ERROR(RequireText(e, "role_id", &role_id));
  INGEST_PREPARE(stmt, ctx, kRevokeRole);
  stmt->Bind(1, user_id);
  stmt->Bind(2, role_id);
  INGEST_RETURN_IF_ERROR(stmt->Run());
  if (stmt->Changes() == 0) {
    std::string what = "role assignment of user ";
    what += user_id;
    what += " to role";
    return WaitingFor(what, role_id);
  }
  return Status::Ok();
}

constexpr HandlerEntry kEntries[] = {
    {"auth.user.created", UserCreated},
    {"auth.user.deleted", UserDeleted},
    {"auth.user.login.succeeded", LoginSucceeded},
    {"auth.user.login.failed", LoginFailed},
    {"auth.user.role.assigned", RoleAssigned},
    {"auth.user.role.revoked", RoleRevoked},
};

}  // namespace

std::span<const HandlerEntry> AuthHandlers() { return kEntries; }

}  // namespace ingestlab::handlers
