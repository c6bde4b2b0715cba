// auth.user.* handlers: users, logins, role assignments (CATALOG.md).
#include <string>

#include "system/handlers/registry.h"

namespace ingestlab::handlers::auth {

namespace {

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

}  // namespace

constexpr char kUpsertUser[] = R"sql(
INSERT INTO users(user_id, org_id, email, first_name, last_name, status, created_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT(user_id) DO UPDATE SET
  org_id = COALESCE(excluded.org_id, users.org_id),
  email = excluded.email,
  first_name = COALESCE(excluded.first_name, users.first_name),
  last_name = COALESCE(excluded.last_name, users.last_name),
  status = CASE WHEN users.deleted_at IS NULL THEN excluded.status ELSE users.status END,
  created_at = MIN(COALESCE(users.created_at, excluded.created_at), excluded.created_at))sql";

Status UserCreated(ApplyContext& ctx, const Event& e) {
  std::string_view user_id, email;
  INGEST_RETURN_IF_ERROR(RequireUser(e, &user_id));
  INGEST_RETURN_IF_ERROR(RequireText(e, "email", &email));
  return Exec(ctx, kUpsertUser, user_id, Opt(e.org_id), email, e.data.str("first_name"),
              e.data.str("last_name"), e.data.str("status").value_or("active"), e.event_time_ms);
}

constexpr char kDeleteUser[] =
    "UPDATE users SET deleted_at = ?2, status = 'deleted' WHERE user_id = ?1";

Status UserDeleted(ApplyContext& ctx, const Event& e) {
  std::string_view user_id;
  INGEST_RETURN_IF_ERROR(RequireUser(e, &user_id));
  return UpdateOrWait(ctx, kDeleteUser, "user", user_id, e.event_time_ms);
}

constexpr char kInsertLogin[] = R"sql(
INSERT INTO logins(event_id, user_id, email, org_id, ok, reason, at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT(event_id) DO NOTHING)sql";

namespace {

Status InsertLogin(ApplyContext& ctx, const Event& e, std::optional<std::string_view> user_id,
                   bool ok) {
  return Exec(ctx, kInsertLogin, std::string_view(e.id), user_id, e.data.str("email"),
              Opt(e.org_id), ok ? 1 : 0, e.data.str("reason"), e.event_time_ms);
}

}  // namespace

constexpr char kLoginSucceeded[] = R"sql(
UPDATE users SET login_count = login_count + 1,
  last_login_at = MAX(COALESCE(last_login_at, ?2), ?2)
WHERE user_id = ?1)sql";

Status LoginSucceeded(ApplyContext& ctx, const Event& e) {
  std::string_view user_id;
  INGEST_RETURN_IF_ERROR(RequireUser(e, &user_id));
  INGEST_RETURN_IF_ERROR(UpdateOrWait(ctx, kLoginSucceeded, "user", user_id, e.event_time_ms));
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
  // Failed logins are facts about an attempt, not about a user: they never wait for one.
  INGEST_RETURN_IF_ERROR(Exec(ctx, user_id.empty() ? kFailedLoginByEmail : kFailedLoginById,
                              user_id.empty() ? email : user_id));
  return InsertLogin(ctx, e, std::optional<std::string_view>(user_id), false);
}

constexpr char kUserExists[] = "SELECT 1 FROM users WHERE user_id = ?1";

constexpr char kUpsertRole[] = R"sql(
INSERT INTO user_roles(user_id, role_id, role_name, user_email, org_id, assigned_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT(user_id, role_id) DO UPDATE SET
  role_name = COALESCE(excluded.role_name, user_roles.role_name),
  user_email = COALESCE(excluded.user_email, user_roles.user_email),
  assigned_at = MAX(COALESCE(user_roles.assigned_at, excluded.assigned_at), excluded.assigned_at))sql";

Status RoleAssigned(ApplyContext& ctx, const Event& e) {
  std::string_view user_id, role_id;
  INGEST_RETURN_IF_ERROR(RequireUser(e, &user_id));
  INGEST_RETURN_IF_ERROR(RequireText(e, "role_id", &role_id));
  INGEST_RETURN_IF_ERROR(RequireRow(ctx, kUserExists, "user", user_id));
  return Exec(ctx, kUpsertRole, user_id, role_id, e.data.str("role_name"), e.data.str("user_email"),
              Opt(e.org_id), e.event_time_ms);
}

constexpr char kRevokeRole[] = "DELETE FROM user_roles WHERE user_id = ?1 AND role_id = ?2";

// Waits for the assignment itself, not just the user: a revoke applied before its assignment
// would otherwise leave the role granted once the assignment arrives.
Status RoleRevoked(ApplyContext& ctx, const Event& e) {
  std::string_view user_id, role_id;
  INGEST_RETURN_IF_ERROR(RequireUser(e, &user_id));
  INGEST_RETURN_IF_ERROR(RequireText(e, "role_id", &role_id));
  INGEST_RETURN_IF_ERROR(Exec(ctx, kRevokeRole, user_id, role_id));
  if (ctx.Changes() == 0) {
    std::string what = "role assignment of user ";
    what += user_id;
    what += " to role";
    return WaitingFor(what, role_id);
  }
  return Status::Ok();
}

}  // namespace ingestlab::handlers::auth
