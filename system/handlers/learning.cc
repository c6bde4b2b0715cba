// Learning telemetry handlers: sessions, activities, skills, homework, recommendations, and the
// high-volume focus pings aggregated per (session, minute) (CATALOG.md).
#include <string>

#include "system/handlers/registry.h"

namespace ingestlab::handlers::learning {

namespace {

// The learner an event is about: data.learner_id, else the envelope's customer_id.
Status RequireLearner(const Event& e, std::string_view* out) {
  auto v = e.data.str("learner_id");
  *out = v && !v->empty() ? *v : std::string_view(e.customer_id);
  if (out->empty()) return Status::Schema(e.type + ": data.learner_id is required");
  return Status::Ok();
}

}  // namespace

constexpr char kInsertSession[] = R"sql(
INSERT INTO learning_sessions(session_id, learner_id, org_id, course, device, started_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT(session_id) DO NOTHING)sql";

Status SessionStarted(ApplyContext& ctx, const Event& e) {
  std::string_view session_id, learner_id;
  INGEST_RETURN_IF_ERROR(RequireText(e, "session_id", &session_id));
  INGEST_RETURN_IF_ERROR(RequireLearner(e, &learner_id));
  return Exec(ctx, kInsertSession, session_id, learner_id, Opt(e.org_id), e.data.str("course"),
              e.data.str("device"), e.event_time_ms);
}

constexpr char kEndSession[] =
    "UPDATE learning_sessions SET ended_at = ?2, duration_s = COALESCE(?3, duration_s) "
    "WHERE session_id = ?1";

Status SessionEnded(ApplyContext& ctx, const Event& e) {
  return UpdateByKey(ctx, e, "session_id", kEndSession, "session", e.event_time_ms,
                     e.data.number("duration_s"));
}

constexpr char kSessionExists[] = "SELECT 1 FROM learning_sessions WHERE session_id = ?1";

constexpr char kInsertActivity[] = R"sql(
INSERT INTO learning_activities(activity_id, session_id, learner_id, org_id, skill, score,
                                duration_s, completed_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
ON CONFLICT(activity_id) DO NOTHING)sql";

Status ActivityCompleted(ApplyContext& ctx, const Event& e) {
  std::string_view activity_id, session_id, learner_id;
  INGEST_RETURN_IF_ERROR(RequireText(e, "activity_id", &activity_id));
  INGEST_RETURN_IF_ERROR(RequireText(e, "session_id", &session_id));
  INGEST_RETURN_IF_ERROR(RequireLearner(e, &learner_id));
  INGEST_RETURN_IF_ERROR(RequireRow(ctx, kSessionExists, "session", session_id));
  return Exec(ctx, kInsertActivity, activity_id, session_id, learner_id, Opt(e.org_id),
              e.data.str("skill"), e.data.number("score"), e.data.number("duration_s"),
              e.event_time_ms);
}

// The highest level reached wins, whatever order the events arrive in.
constexpr char kUpsertSkill[] = R"sql(
INSERT INTO learner_skills(learner_id, skill, org_id, level, mastered_at)
VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT(learner_id, skill) DO UPDATE SET
  level = MAX(COALESCE(learner_skills.level, excluded.level),
              COALESCE(excluded.level, learner_skills.level)),
  mastered_at = MAX(COALESCE(learner_skills.mastered_at, excluded.mastered_at),
                    excluded.mastered_at))sql";

Status SkillMastered(ApplyContext& ctx, const Event& e) {
  std::string_view learner_id, skill;
  INGEST_RETURN_IF_ERROR(RequireLearner(e, &learner_id));
  INGEST_RETURN_IF_ERROR(RequireText(e, "skill", &skill));
  return Exec(ctx, kUpsertSkill, learner_id, skill, Opt(e.org_id), e.data.int64("level"),
              e.event_time_ms);
}

constexpr char kInsertQuestion[] = R"sql(
INSERT INTO homework(question_id, learner_id, org_id, subject, text, asked_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT(question_id) DO NOTHING)sql";

Status QuestionAsked(ApplyContext& ctx, const Event& e) {
  std::string_view question_id, learner_id;
  INGEST_RETURN_IF_ERROR(RequireText(e, "question_id", &question_id));
  INGEST_RETURN_IF_ERROR(RequireLearner(e, &learner_id));
  return Exec(ctx, kInsertQuestion, question_id, learner_id, Opt(e.org_id), e.data.str("subject"),
              e.data.str("text"), e.event_time_ms);
}

constexpr char kAnswerQuestion[] =
    "UPDATE homework SET answer = ?2, answered_at = ?3 WHERE question_id = ?1";

Status QuestionAnswered(ApplyContext& ctx, const Event& e) {
  std::string_view question_id, answer;
  INGEST_RETURN_IF_ERROR(RequireText(e, {{"question_id", &question_id}, {"answer", &answer}}));
  return UpdateOrWait(ctx, kAnswerQuestion, "question", question_id, answer, e.event_time_ms);
}

constexpr char kInsertRecommendation[] = R"sql(
INSERT INTO recommendations(recommendation_id, learner_id, org_id, item, reason, created_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT(recommendation_id) DO NOTHING)sql";

Status RecommendationCreated(ApplyContext& ctx, const Event& e) {
  std::string_view recommendation_id, learner_id, item;
  INGEST_RETURN_IF_ERROR(RequireText(e, "recommendation_id", &recommendation_id));
  INGEST_RETURN_IF_ERROR(RequireLearner(e, &learner_id));
  INGEST_RETURN_IF_ERROR(RequireText(e, "item", &item));
  return Exec(ctx, kInsertRecommendation, recommendation_id, learner_id, Opt(e.org_id), item,
              e.data.str("reason"), e.event_time_ms);
}

// One row per (session, minute): a ping adds 1 to pings (and to focused_pings when focused),
// an idle loss adds its seconds to idle_s.
constexpr char kUpsertFocusMinute[] = R"sql(
INSERT INTO focus_minutes(session_id, minute, learner_id, org_id, pings, focused_pings, idle_s)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT(session_id, minute) DO UPDATE SET
  pings = focus_minutes.pings + excluded.pings,
  focused_pings = focus_minutes.focused_pings + excluded.focused_pings,
  idle_s = focus_minutes.idle_s + excluded.idle_s)sql";

namespace {

int64_t MinuteOf(int64_t unix_ms) {
  int64_t minute = unix_ms / 60'000;
  if (unix_ms % 60'000 < 0) --minute;
  return minute;
}

Status UpsertFocus(ApplyContext& ctx, const Event& e, int pings, int focused, double idle_s) {
  std::string_view session_id, learner_id;
  INGEST_RETURN_IF_ERROR(RequireText(e, "session_id", &session_id));
  INGEST_RETURN_IF_ERROR(RequireLearner(e, &learner_id));
  return Exec(ctx, kUpsertFocusMinute, session_id, MinuteOf(e.event_time_ms), learner_id,
              Opt(e.org_id), pings, focused, idle_s);
}

}  // namespace

Status FocusPing(ApplyContext& ctx, const Event& e) {
  auto focused = e.data.boolean("focused");
  if (!focused) return Status::Schema(e.type + ": data.focused is required (boolean)");
  return UpsertFocus(ctx, e, 1, *focused ? 1 : 0, 0.0);
}

Status FocusIdle(ApplyContext& ctx, const Event& e) {
  double idle_s = 0;
  INGEST_RETURN_IF_ERROR(RequireNumber(e, "idle_s", &idle_s));
  if (idle_s < 0) return Status::Schema(e.type + ": data.idle_s must be >= 0");
  return UpsertFocus(ctx, e, 0, 0, idle_s);
}

}  // namespace ingestlab::handlers::learning
