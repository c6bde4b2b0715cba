// Service generators: see generators.h.
#include "simulators/generators.h"

#include <algorithm>
#include <array>
#include <deque>
#include <map>
#include <unordered_map>

namespace ingestlab::sim {
namespace {

constexpr std::array kFirstNames = {"Ada",      "Grace",  "Linus",   "Ken",    "Barbara", "Edsger",
                                    "Alan",     "Donald", "Frances", "Leslie", "Radia",   "Tim",
                                    "Margaret", "John",   "Sophie",  "Yuki",   "Amara",   "Mateo"};
constexpr std::array kLastNames = {"Lovelace", "Hopper",  "Torvalds", "Thompson", "Liskov",
                                   "Dijkstra", "Turing",  "Knuth",    "Allen",    "Lamport",
                                   "Perlman",  "Berners", "Hamilton", "Backus",   "Wilson",
                                   "Tanaka",   "Okafor",  "Garcia"};
constexpr std::array kCompanies = {"Acme Corp",
                                   "Globex",
                                   "Initech",
                                   "Umbrella Labs",
                                   "Hooli",
                                   "Stark Industries",
                                   "Wayne Enterprises",
                                   "Vandelay Imports",
                                   "Soylent",
                                   "Tyrell"};
constexpr std::array kDomains = {"example.com", "example.org", "mail.test", "corp.test"};

struct Product {
  const char* name;
  const char* sku;
  int64_t price_cents;
};
constexpr std::array<Product, 8> kProducts = {{{"Widget Pro", "WGT-100", 4999},
                                               {"Premium Plan", "PLN-PRM", 9900},
                                               {"Basic Plan", "PLN-BSC", 1900},
                                               {"Sensor Kit", "SNS-220", 12950},
                                               {"Repair Service", "SRV-REP", 7500},
                                               {"Cable Pack", "CBL-010", 1299},
                                               {"Router X", "RTR-900", 21900},
                                               {"Extended Warranty", "WAR-EXT", 3900}}};
constexpr std::array kPlans = {"basic", "pro", "enterprise"};
constexpr std::array kPriorities = {"low", "medium", "high", "urgent"};
constexpr std::array kChannels = {"email", "phone", "chat", "web"};
constexpr std::array kSentences = {
    "The customer reports that the device stops responding after roughly ten minutes of use.",
    "A firmware update was attempted twice and failed with the same checksum error each time.",
    "They have already power-cycled the unit and reset it to factory settings without success.",
    "The issue started after the last billing cycle, when the plan was upgraded to pro.",
    "Support suggested replacing the power adapter, which arrived damaged in the original box.",
    "The customer would like a callback in the morning and prefers to be contacted by phone.",
    "Logs attached by the customer show repeated connection resets on the secondary interface.",
    "A technician visit was scheduled but the customer was not available at the agreed time.",
    "The warranty is still valid, so a replacement can be shipped at no additional cost.",
    "The customer mentioned they are evaluating a competitor if the problem is not fixed soon."};
constexpr std::array kTitles = {"Device will not turn on", "Refund request",
                                "Login problems",          "Invoice amount looks wrong",
                                "Slow performance",        "Cannot update firmware",
                                "Shipping delayed",        "Account locked"};
constexpr std::array kSkills = {"algebra", "geometry",  "reading", "writing",
                                "biology", "chemistry", "history", "programming"};
constexpr std::array kCourses = {"math-101", "sci-201", "lit-110", "cs-150"};
constexpr std::array kDevices = {"laptop", "tablet", "phone", "desktop"};
constexpr std::array kRoles = {"admin", "editor", "viewer", "billing", "support"};
constexpr std::array kLeadSources = {"web", "referral", "event", "ads", "partner"};

template <typename Array>
auto Pick(Rng& rng, const Array& a) {
  return a[rng.Uniform(a.size())];
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

double Money(int64_t cents) { return static_cast<double>(cents) / 100.0; }

// A description of `min_chars` or more, built from whole sentences.
std::string Text(Rng& rng, size_t min_chars) {
  std::string out;
  while (out.size() < min_chars || out.empty()) {
    if (!out.empty()) out += ' ';
    out += Pick(rng, kSentences);
  }
  return out;
}

struct TypeFields {
  const char* type;
  std::vector<std::string> required;
};

const std::vector<TypeFields>& Catalog() {
  static const std::vector<TypeFields> kCatalog = {
      {"billing.customer.created", {"customer_id", "email"}},
      {"billing.purchase.completed", {"purchase_id", "customer_id", "amount"}},
      {"billing.purchase.refunded", {"purchase_id", "amount"}},
      {"billing.invoice.issued", {"invoice_id", "customer_id", "amount"}},
      {"billing.invoice.paid", {"invoice_id", "amount"}},
      {"billing.subscription.started", {"subscription_id", "customer_id", "plan"}},
      {"billing.subscription.cancelled", {"subscription_id"}},
      {"support.ticket.opened", {"ticket_id", "customer_id", "title"}},
      {"support.ticket.updated", {"ticket_id"}},
      {"support.ticket.resolved", {"ticket_id"}},
      {"support.work_order.created", {"work_order_id", "customer_id", "description"}},
      {"support.work_order.updated", {"work_order_id"}},
      {"support.note.added", {"customer_id", "note"}},
      {"customer.profile.updated", {}},
      {"customer.contact.recorded", {}},
      {"auth.user.created", {"user_id", "email"}},
      {"auth.user.deleted", {"user_id"}},
      {"auth.user.login.succeeded", {"user_id"}},
      {"auth.user.login.failed", {"email"}},
      {"auth.user.role.assigned", {"user_id", "role_id"}},
      {"auth.user.role.revoked", {"user_id", "role_id"}},
      {"learning.session.started", {"session_id", "learner_id"}},
      {"learning.session.ended", {"session_id"}},
      {"learning.activity.completed", {"activity_id", "session_id", "learner_id"}},
      {"learning.skill.mastered", {"learner_id", "skill"}},
      {"homework.question.asked", {"question_id", "learner_id"}},
      {"homework.question.answered", {"question_id", "answer"}},
      {"recommendation.created", {"recommendation_id", "learner_id", "item"}},
      {"focus.ping", {"session_id", "learner_id", "focused"}},
      {"focus.loss.idle", {"session_id", "learner_id", "idle_s"}},
      {"crm.lead.created", {"lead_id", "email"}},
      {"crm.lead.updated", {"lead_id"}},
      {"crm.lead.converted", {"lead_id", "contact_id"}},
      {"crm.contact.created", {"contact_id", "email"}},
      {"crm.contact.updated", {"contact_id"}},
      {"crm.opportunity.created", {"opportunity_id", "name"}},
      {"crm.opportunity.updated", {"opportunity_id"}},
      {"crm.opportunity.won", {"opportunity_id"}},
      {"crm.opportunity.lost", {"opportunity_id"}},
  };
  return kCatalog;
}

// Shared machinery: sequence numbers, ids, customer choice, a queue of follow-up events.
class GeneratorBase : public ServiceGenerator {
 public:
  GeneratorBase(std::string service, const GeneratorOptions& options)
      : service_(std::move(service)),
        options_(options),
        pool_(options.seed, std::max(1, options.customer_pool_size)),
        rng_(Rng(options.seed).Fork("generator." + service_)),
        unknown_rng_(Rng(options.seed).Fork("unknown_customer." + service_)),
        mix_rng_(Rng(options.seed).Fork("schema_mix." + service_)) {}

  GeneratedEvent Next(int64_t event_time_ms) final {
    while (pending_.empty()) Produce(event_time_ms);
    return Stamp(event_time_ms);
  }

  Result<GeneratedEvent> Sample(std::string_view type, int64_t event_time_ms) final {
    const auto types = Types();
    if (std::find(types.begin(), types.end(), type) == types.end()) {
      return Status::NotFound("service " + service_ + " does not produce type " +
                              std::string(type));
    }
    for (int i = 0; i < 200000; ++i) {
      while (pending_.empty()) Produce(event_time_ms);
      if (pending_.front().type == type) return Stamp(event_time_ms);
      pending_.pop_front();
      ++next_seq_;  // keeps entity ids unique: they are derived from sequence numbers
    }
    return Status::NotFound("no sample of " + std::string(type) + " came up");
  }

  const std::string& service() const final { return service_; }
  const GeneratorStats& stats() const final { return stats_; }

 protected:
  // Appends one or more events to pending_ (without seq, id or time).
  virtual void Produce(int64_t now_ms) = 0;

  GeneratedEvent& Emit(std::string type, std::string customer_id, std::string entity_key,
                       Json data) {
    GeneratedEvent e;
    e.service = service_;
    e.type = std::move(type);
    e.customer_id = std::move(customer_id);
    e.entity_key = std::move(entity_key);
    e.data = std::move(data);
    pending_.push_back(std::move(e));
    return pending_.back();
  }

  // A customer for a new entity: from the pool, or (unknown_customer share) one nobody created.
  std::string PickCustomer(bool* unknown = nullptr) {
    ++stats_.customer_picks;
    const bool outside = unknown_rng_.Chance(options_.unknown_customer_share);
    if (unknown) *unknown = outside;
    if (outside) {
      ++stats_.unknown_customers;
      return "cust-" + std::to_string(options_.seed) + "-x" + service_ + std::to_string(next_seq_);
    }
    return pool_.at(rng_.Uniform(pool_.size())).id;
  }
  const Customer* PoolCustomer(const std::string& id) const {
    auto it = pool_index_.find(id);
    return it == pool_index_.end() ? nullptr : &pool_.at(it->second);
  }
  void IndexPool() {
    for (size_t i = 0; i < pool_.size(); ++i) pool_index_[pool_.at(i).id] = i;
  }
  // A unique id for a new entity: "<prefix>-<seed>-<seq of the event that creates it>".
  std::string NewId(const char* prefix) {
    return std::string(prefix) + "-" + std::to_string(options_.seed) + "-" +
           std::to_string(next_seq_ + pending_.size());
  }
  std::string EmailFor(const std::string& customer_id) const {
    if (const Customer* c = PoolCustomer(customer_id)) return c->email;
    return customer_id + "@unknown.test";
  }

  std::string service_;
  GeneratorOptions options_;
  CustomerPool pool_;
  Rng rng_;
  Rng unknown_rng_;
  Rng mix_rng_;
  GeneratorStats stats_;
  std::unordered_map<std::string, size_t> pool_index_;

 private:
  GeneratedEvent Stamp(int64_t event_time_ms) {
    GeneratedEvent e = std::move(pending_.front());
    pending_.pop_front();
    e.seq = next_seq_++;
    e.id = service_ + "-" + std::to_string(options_.seed) + "-" + std::to_string(e.seq);
    e.event_time_ms = event_time_ms;
    return e;
  }

  std::deque<GeneratedEvent> pending_;
  uint64_t next_seq_ = 0;
};

// Weighted choice among actions whose precondition holds.
struct Action {
  int weight;
  bool possible;
};
int Choose(Rng& rng, const std::vector<Action>& actions) {
  int total = 0;
  for (const auto& a : actions) total += a.possible ? a.weight : 0;
  int64_t r = static_cast<int64_t>(rng.Uniform(static_cast<uint64_t>(total)));
  for (size_t i = 0; i < actions.size(); ++i) {
    if (!actions[i].possible) continue;
    if (r < actions[i].weight) return static_cast<int>(i);
    r -= actions[i].weight;
  }
  return 0;
}

// Removes and returns a random element (order of the rest is not preserved).
template <typename T>
T TakeRandom(Rng& rng, std::vector<T>& v) {
  const size_t i = rng.Uniform(v.size());
  T out = std::move(v[i]);
  v[i] = std::move(v.back());
  v.pop_back();
  return out;
}

// Keeps a bounded backlog: the oldest open entities are forgotten (never referenced again).
template <typename T>
void Bound(std::vector<T>& v, size_t max) {
  if (v.size() > max) v.erase(v.begin(), v.begin() + static_cast<long>(v.size() - max));
}

// ---------------------------------------------------------------------------------------------
class BillingGenerator final : public GeneratorBase {
 public:
  explicit BillingGenerator(const GeneratorOptions& o) : GeneratorBase("billing", o) {
    IndexPool();
  }
  std::vector<std::string> Types() const override {
    return {"billing.customer.created",      "billing.purchase.completed",
            "billing.purchase.refunded",     "billing.invoice.issued",
            "billing.invoice.paid",          "billing.subscription.started",
            "billing.subscription.cancelled"};
  }

 private:
  struct Owned {
    std::string id;
    std::string customer;
    int64_t amount_cents;
  };
  void Produce(int64_t) override {
    enum { kCustomer, kPurchase, kRefund, kInvoice, kPaid, kSubscribe, kCancel };
    const int a = Choose(rng_, {{8, next_customer_ < pool_.size()},
                                {40, true},
                                {8, !purchases_.empty()},
                                {14, true},
                                {12, !invoices_.empty()},
                                {8, true},
                                {5, !subscriptions_.empty()}});
    switch (a) {
      case kCustomer: {
        const Customer& c = pool_.at(next_customer_++);
        Emit("billing.customer.created", c.id, c.id,
             Json{{"customer_id", c.id},
                  {"email", c.email},
                  {"name", c.first_name + " " + c.last_name},
                  {"plan", Pick(rng_, kPlans)}});
        break;
      }
      case kPurchase: {
        bool unknown = false;
        const std::string customer = PickCustomer(&unknown);
        const Product& p = Pick(rng_, kProducts);
        const int64_t quantity = rng_.Range(1, 3);
        const std::string id = NewId("pur");
        const int64_t amount = p.price_cents * quantity;
        Json data{{"purchase_id", id},   {"customer_id", customer}, {"amount", Money(amount)},
                  {"currency", "USD"},   {"product_name", p.name},  {"product_sku", p.sku},
                  {"quantity", quantity}};
        if (rng_.Chance(0.3)) data["warranty_expires"] = 1800000000 + rng_.Range(0, 99999999);
        Emit("billing.purchase.completed", customer, customer, std::move(data)).unknown_customer =
            unknown;
        purchases_.push_back({id, customer, amount});
        Bound(purchases_, 2000);
        break;
      }
      case kRefund: {
        const Owned p = TakeRandom(rng_, purchases_);
        const int64_t amount = rng_.Chance(0.5) ? p.amount_cents : rng_.Range(0, p.amount_cents);
        Emit("billing.purchase.refunded", p.customer, p.customer,
             Json{{"purchase_id", p.id},
                  {"amount", Money(amount)},
                  {"reason", rng_.Chance(0.5) ? "damaged" : "changed_mind"}});
        break;
      }
      case kInvoice: {
        bool unknown = false;
        const std::string customer = PickCustomer(&unknown);
        const std::string id = NewId("inv");
        const int64_t amount = rng_.Range(500, 50000);
        Emit("billing.invoice.issued", customer, customer,
             Json{{"invoice_id", id},
                  {"customer_id", customer},
                  {"amount", Money(amount)},
                  {"due_date", "2027-0" + std::to_string(rng_.Range(1, 9)) + "-15"}})
            .unknown_customer = unknown;
        invoices_.push_back({id, customer, amount});
        Bound(invoices_, 2000);
        break;
      }
      case kPaid: {
        const Owned inv = TakeRandom(rng_, invoices_);
        Emit("billing.invoice.paid", inv.customer, inv.customer,
             Json{{"invoice_id", inv.id}, {"amount", Money(inv.amount_cents)}});
        break;
      }
      case kSubscribe: {
        bool unknown = false;
        const std::string customer = PickCustomer(&unknown);
        const std::string id = NewId("sub");
        Emit("billing.subscription.started", customer, customer,
             Json{{"subscription_id", id}, {"customer_id", customer}, {"plan", Pick(rng_, kPlans)}})
            .unknown_customer = unknown;
        subscriptions_.push_back({id, customer, 0});
        Bound(subscriptions_, 2000);
        break;
      }
      case kCancel: {
        const Owned s = TakeRandom(rng_, subscriptions_);
        Emit("billing.subscription.cancelled", s.customer, s.customer,
             Json{{"subscription_id", s.id},
                  {"reason", rng_.Chance(0.5) ? "too_expensive" : "not_used"}});
        break;
      }
    }
  }

  size_t next_customer_ = 0;
  std::vector<Owned> purchases_;
  std::vector<Owned> invoices_;
  std::vector<Owned> subscriptions_;
};

// ---------------------------------------------------------------------------------------------
class SupportGenerator final : public GeneratorBase {
 public:
  explicit SupportGenerator(const GeneratorOptions& o) : GeneratorBase("support", o) {
    IndexPool();
  }
  std::vector<std::string> Types() const override {
    return {"support.ticket.opened",      "support.ticket.updated",     "support.ticket.resolved",
            "support.work_order.created", "support.work_order.updated", "support.note.added",
            "customer.profile.updated",   "customer.contact.recorded"};
  }

 private:
  struct Ticket {
    std::string id;
    std::string customer;
    int updates = 0;
  };
  void Produce(int64_t) override {
    enum { kOpen, kUpdate, kResolve, kWorkOrder, kWorkUpdate, kNote, kProfile, kContact };
    const int a = Choose(rng_, {{18, tickets_.size() < 500},
                                {16, !tickets_.empty()},
                                {10, !tickets_.empty()},
                                {8, work_orders_.size() < 500},
                                {8, !work_orders_.empty()},
                                {14, true},
                                {16, true},
                                {10, true}});
    switch (a) {
      case kOpen: {
        bool unknown = false;
        const std::string customer = PickCustomer(&unknown);
        const std::string id = NewId("tkt");
        Json data{{"ticket_id", id},
                  {"customer_id", customer},
                  {"title", Pick(rng_, kTitles)},
                  {"description", Text(rng_, rng_.Chance(0.2) ? 600 : 60)},
                  {"priority", Pick(rng_, kPriorities)},
                  {"channel", Pick(rng_, kChannels)}};
        Emit("support.ticket.opened", customer, id, std::move(data)).unknown_customer = unknown;
        tickets_.push_back({id, customer, 0});
        break;
      }
      case kUpdate: {
        Ticket& t = tickets_[rng_.Uniform(tickets_.size())];
        ++t.updates;
        Emit("support.ticket.updated", t.customer, t.id,
             Json{{"ticket_id", t.id},
                  {"status", t.updates == 1 ? "in_progress" : "pending"},
                  {"priority", Pick(rng_, kPriorities)},
                  {"comment", Pick(rng_, kSentences)}});
        break;
      }
      case kResolve: {
        const Ticket t = TakeRandom(rng_, tickets_);
        Emit("support.ticket.resolved", t.customer, t.id,
             Json{{"ticket_id", t.id}, {"resolution", Pick(rng_, kSentences)}});
        break;
      }
      case kWorkOrder: {
        bool unknown = false;
        const std::string customer = PickCustomer(&unknown);
        const std::string id = NewId("wo");
        Emit("support.work_order.created", customer, id,
             Json{{"work_order_id", id},
                  {"customer_id", customer},
                  {"description", Text(rng_, rng_.Chance(0.2) ? 600 : 80)},
                  {"priority", Pick(rng_, kPriorities)},
                  {"assigned_to", std::string("tech-") + std::to_string(rng_.Range(1, 12))},
                  {"cost", Money(rng_.Range(0, 40000))}})
            .unknown_customer = unknown;
        work_orders_.push_back({id, customer, 0});
        break;
      }
      case kWorkUpdate: {
        const size_t i = rng_.Uniform(work_orders_.size());
        Ticket& w = work_orders_[i];
        ++w.updates;
        const bool done = w.updates >= 2;
        Json data{{"work_order_id", w.id},
                  {"status", done ? "completed" : "in_progress"},
                  {"cost", Money(rng_.Range(0, 40000))}};
        if (done) data["resolution_notes"] = Pick(rng_, kSentences);
        Emit("support.work_order.updated", w.customer, w.id, std::move(data));
        if (done) {
          w = std::move(work_orders_.back());
          work_orders_.pop_back();
        }
        break;
      }
      case kNote: {
        bool unknown = false;
        const std::string customer = PickCustomer(&unknown);
        static constexpr std::array kImportance = {"low", "medium", "high", "critical"};
        GeneratedEvent& e =
            Emit("support.note.added", customer, customer,
                 Json{{"customer_id", customer},
                      {"note", Text(rng_, rng_.Chance(0.25) ? 700 : 40)},
                      {"category", rng_.Chance(0.5) ? "preference" : "history"},
                      {"importance", Pick(rng_, kImportance)},
                      {"tags", Json::array({Pick(rng_, kSkills), Pick(rng_, kChannels)})}});
        e.reorderable = true;
        e.unknown_customer = unknown;
        break;
      }
      case kProfile: {
        const Customer& c = pool_.at(rng_.Uniform(pool_.size()));
        Json data{{"email", c.email},
                  {"customer_name", c.first_name + " " + c.last_name},
                  {"phone", "+1-555-" + std::to_string(rng_.Range(1000, 9999))},
                  {"company", Pick(rng_, kCompanies)}};
        Emit("customer.profile.updated", c.id, c.id, std::move(data)).reorderable = true;
        break;
      }
      case kContact: {
        const Customer& c = pool_.at(rng_.Uniform(pool_.size()));
        Emit("customer.contact.recorded", c.id, c.id,
             Json{{"channel", Pick(rng_, kChannels)},
                  {"subject", Pick(rng_, kTitles)},
                  {"description", Pick(rng_, kSentences)},
                  {"email", c.email}})
            .reorderable = true;
        break;
      }
    }
  }

  std::vector<Ticket> tickets_;
  std::vector<Ticket> work_orders_;
};

// ---------------------------------------------------------------------------------------------
class AuthGenerator final : public GeneratorBase {
 public:
  explicit AuthGenerator(const GeneratorOptions& o) : GeneratorBase("auth", o) { IndexPool(); }
  std::vector<std::string> Types() const override {
    return {"auth.user.created",      "auth.user.deleted",       "auth.user.login.succeeded",
            "auth.user.login.failed", "auth.user.role.assigned", "auth.user.role.revoked"};
  }

 private:
  struct User {
    std::string id;
    std::string customer;
    std::string email;
    std::vector<std::string> roles;
  };
  void Produce(int64_t) override {
    if (burst_left_ > 0) {
      --burst_left_;
      Json data{{"email", burst_email_},
                {"reason", burst_user_.empty() ? "user_not_found" : "invalid_password"}};
      if (!burst_user_.empty()) data["user_id"] = burst_user_;
      Emit("auth.user.login.failed", burst_customer_, burst_email_, std::move(data)).reorderable =
          true;
      return;
    }
    enum { kCreate, kLogin, kBurst, kAssign, kRevoke, kDelete };
    bool any_roles = false;
    for (const auto& u : users_) any_roles |= !u.roles.empty();
    const int a = Choose(rng_, {{users_.size() < 20 ? 60 : 10, true},
                                {45, !users_.empty()},
                                {6, true},
                                {10, !users_.empty()},
                                {5, any_roles},
                                {users_.size() > 1500 ? 20 : 2, users_.size() > 1}});
    switch (a) {
      case kCreate: {
        bool unknown = false;
        const std::string customer = PickCustomer(&unknown);
        const std::string id = NewId("user");
        std::string email = EmailFor(customer);
        email.insert(email.find('@'), "+" + id.substr(id.rfind('-') + 1));
        const Customer* c = PoolCustomer(customer);
        Emit("auth.user.created", customer, id,
             Json{{"user_id", id},
                  {"email", email},
                  {"first_name", c ? c->first_name : "Unknown"},
                  {"last_name", c ? c->last_name : "Customer"},
                  {"status", "active"}})
            .unknown_customer = unknown;
        users_.push_back({id, customer, email, {}});
        break;
      }
      case kLogin: {
        const User& u = users_[rng_.Uniform(users_.size())];
        Emit("auth.user.login.succeeded", u.customer, u.id,
             Json{{"user_id", u.id}, {"email", u.email}});
        break;
      }
      case kBurst: {
        burst_left_ = static_cast<int>(rng_.Range(3, 8));
        if (!users_.empty() && rng_.Chance(0.7)) {
          const User& u = users_[rng_.Uniform(users_.size())];
          burst_user_ = u.id;
          burst_email_ = u.email;
          burst_customer_ = u.customer;
        } else {
          burst_user_.clear();
          burst_customer_ = PickCustomer();
          burst_email_ =
              "nobody-" + std::to_string(rng_.Range(1, 999)) + "@" + Pick(rng_, kDomains);
        }
        Produce(0);
        break;
      }
      case kAssign: {
        User& u = users_[rng_.Uniform(users_.size())];
        const size_t r = rng_.Uniform(kRoles.size());
        const std::string role_id = std::string("role-") + kRoles[r];
        if (std::find(u.roles.begin(), u.roles.end(), role_id) == u.roles.end()) {
          u.roles.push_back(role_id);
        }
        Emit("auth.user.role.assigned", u.customer, u.id,
             Json{{"user_id", u.id},
                  {"role_id", role_id},
                  {"role_name", kRoles[r]},
                  {"user_email", u.email}});
        break;
      }
      case kRevoke: {
        std::vector<size_t> with_roles;
        for (size_t i = 0; i < users_.size(); ++i) {
          if (!users_[i].roles.empty()) with_roles.push_back(i);
        }
        User& u = users_[with_roles[rng_.Uniform(with_roles.size())]];
        const std::string role = TakeRandom(rng_, u.roles);
        Emit("auth.user.role.revoked", u.customer, u.id,
             Json{{"user_id", u.id}, {"role_id", role}});
        break;
      }
      case kDelete: {
        const User u = TakeRandom(rng_, users_);
        Emit("auth.user.deleted", u.customer, u.id, Json{{"user_id", u.id}});
        break;
      }
    }
  }

  std::vector<User> users_;
  int burst_left_ = 0;
  std::string burst_user_, burst_email_, burst_customer_;
};

// ---------------------------------------------------------------------------------------------
class LearningGenerator final : public GeneratorBase {
 public:
  explicit LearningGenerator(const GeneratorOptions& o) : GeneratorBase("learning", o) {
    IndexPool();
  }
  std::vector<std::string> Types() const override {
    return {"learning.session.started",
            "learning.session.ended",
            "learning.activity.completed",
            "learning.skill.mastered",
            "homework.question.asked",
            "homework.question.answered",
            "recommendation.created",
            "focus.ping",
            "focus.loss.idle"};
  }

 private:
  struct Session {
    std::string id;
    std::string learner;
    int64_t started_ms;
  };
  struct Question {
    std::string id;
    std::string learner;
  };
  void Produce(int64_t now_ms) override {
    enum { kStart, kEnd, kActivity, kPing, kIdle, kSkill, kAsk, kAnswer, kRecommend };
    const bool open = !sessions_.empty();
    const int a = Choose(rng_, {{open ? 6 : 100, sessions_.size() < 50},
                                {5, open},
                                {14, open},
                                {50, open},
                                {3, open},
                                {5, true},
                                {5, true},
                                {4, !questions_.empty()},
                                {4, true}});
    switch (a) {
      case kStart: {
        bool unknown = false;
        const std::string learner = PickCustomer(&unknown);
        const std::string id = NewId("sess");
        Emit("learning.session.started", learner, id,
             Json{{"session_id", id},
                  {"learner_id", learner},
                  {"course", Pick(rng_, kCourses)},
                  {"device", Pick(rng_, kDevices)}})
            .unknown_customer = unknown;
        sessions_.push_back({id, learner, now_ms});
        break;
      }
      case kEnd: {
        const Session s = TakeRandom(rng_, sessions_);
        Emit("learning.session.ended", s.learner, s.id,
             Json{{"session_id", s.id}, {"duration_s", (now_ms - s.started_ms) / 1000}});
        break;
      }
      case kActivity: {
        const Session& s = sessions_[rng_.Uniform(sessions_.size())];
        const std::string id = NewId("act");
        Emit("learning.activity.completed", s.learner, s.id,
             Json{{"activity_id", id},
                  {"session_id", s.id},
                  {"learner_id", s.learner},
                  {"skill", Pick(rng_, kSkills)},
                  {"score", rng_.Range(0, 100)},
                  {"duration_s", rng_.Range(5, 900)}});
        break;
      }
      case kPing: {
        const Session& s = sessions_[rng_.Uniform(sessions_.size())];
        Emit("focus.ping", s.learner, s.id,
             Json{{"session_id", s.id}, {"learner_id", s.learner}, {"focused", rng_.Chance(0.8)}})
            .reorderable = true;
        break;
      }
      case kIdle: {
        const Session& s = sessions_[rng_.Uniform(sessions_.size())];
        Emit("focus.loss.idle", s.learner, s.id,
             Json{{"session_id", s.id}, {"learner_id", s.learner}, {"idle_s", rng_.Range(5, 300)}})
            .reorderable = true;
        break;
      }
      case kSkill: {
        const std::string learner = pool_.at(rng_.Uniform(pool_.size())).id;
        Emit("learning.skill.mastered", learner, learner,
             Json{{"learner_id", learner},
                  {"skill", Pick(rng_, kSkills)},
                  {"level", rng_.Range(1, 10)}});
        break;
      }
      case kAsk: {
        bool unknown = false;
        const std::string learner = PickCustomer(&unknown);
        const std::string id = NewId("q");
        Emit("homework.question.asked", learner, id,
             Json{{"question_id", id},
                  {"learner_id", learner},
                  {"subject", Pick(rng_, kSkills)},
                  {"text", "How do I approach problem " + std::to_string(rng_.Range(1, 60)) + "?"}})
            .unknown_customer = unknown;
        questions_.push_back({id, learner});
        Bound(questions_, 2000);
        break;
      }
      case kAnswer: {
        const Question q = TakeRandom(rng_, questions_);
        Emit("homework.question.answered", q.learner, q.id,
             Json{{"question_id", q.id}, {"answer", Pick(rng_, kSentences)}});
        break;
      }
      case kRecommend: {
        const std::string learner = pool_.at(rng_.Uniform(pool_.size())).id;
        Emit("recommendation.created", learner, learner,
             Json{{"recommendation_id", NewId("rec")},
                  {"learner_id", learner},
                  {"item", Pick(rng_, kCourses)},
                  {"reason", "similar learners completed it"}})
            .reorderable = true;
        break;
      }
    }
  }

  std::vector<Session> sessions_;
  std::vector<Question> questions_;
};

// ---------------------------------------------------------------------------------------------
class CrmGenerator final : public GeneratorBase {
 public:
  explicit CrmGenerator(const GeneratorOptions& o) : GeneratorBase("crm", o) { IndexPool(); }
  std::vector<std::string> Types() const override {
    return {"crm.lead.created",        "crm.lead.updated",    "crm.lead.converted",
            "crm.contact.created",     "crm.contact.updated", "crm.opportunity.created",
            "crm.opportunity.updated", "crm.opportunity.won", "crm.opportunity.lost"};
  }

 private:
  struct Lead {
    std::string id;
    std::string customer;
    std::string email;
    std::string name;
    std::string company;
  };
  struct Opportunity {
    std::string id;
    std::string customer;
    int64_t amount_cents;
  };
  void Produce(int64_t) override {
    enum { kLead, kLeadUpdate, kConvert, kContactUpdate, kOppUpdate, kWon, kLost };
    const int a = Choose(rng_, {{25, true},
                                {15, !leads_.empty()},
                                {12, !leads_.empty()},
                                {8, !contacts_.empty()},
                                {10, !opportunities_.empty()},
                                {6, !opportunities_.empty()},
                                {4, !opportunities_.empty()}});
    static constexpr std::array kLeadStatus = {"new", "contacted", "qualified", "unqualified"};
    static constexpr std::array kStages = {"prospecting", "qualification", "proposal",
                                           "negotiation"};
    switch (a) {
      case kLead: {
        bool unknown = false;
        const std::string customer = PickCustomer(&unknown);
        const Customer* c = PoolCustomer(customer);
        const std::string id = NewId("lead");
        const std::string first = c ? c->first_name : "Pat";
        const std::string last = c ? c->last_name : "Unknown";
        const std::string company = c ? c->company : Pick(rng_, kCompanies);
        const std::string email = EmailFor(customer);
        ++stats_.leads_created;
        const bool v2 = mix_rng_.Chance(options_.lead_v2_share);
        Json data{{"lead_id", id}, {"email", email}};
        if (v2) {
          ++stats_.leads_v2;
          data["first_name"] = first;
          data["last_name"] = last;
        } else {
          data["name"] = first + " " + last;
        }
        data["company"] = company;
        data["lead_source"] = Pick(rng_, kLeadSources);
        data["status"] = "new";
        if (v2) data["score"] = rng_.Range(0, 100);
        GeneratedEvent& e = Emit("crm.lead.created", customer, id, std::move(data));
        e.schema_version = v2 ? 2 : 1;
        e.unknown_customer = unknown;
        leads_.push_back({id, customer, email, first + " " + last, company});
        Bound(leads_, 2000);
        break;
      }
      case kLeadUpdate: {
        const Lead& l = leads_[rng_.Uniform(leads_.size())];
        Emit("crm.lead.updated", l.customer, l.id,
             Json{{"lead_id", l.id},
                  {"status", Pick(rng_, kLeadStatus)},
                  {"score", rng_.Range(0, 100)},
                  {"company", l.company}});
        break;
      }
      case kConvert: {
        // A conversion is three events: the contact, its opportunity, then the lead's status.
        const Lead l = TakeRandom(rng_, leads_);
        const std::string contact = NewId("con");
        Emit("crm.contact.created", l.customer, contact,
             Json{{"contact_id", contact},
                  {"email", l.email},
                  {"name", l.name},
                  {"phone", "+1-555-" + std::to_string(rng_.Range(1000, 9999))},
                  {"company", l.company},
                  {"lead_id", l.id}});
        contacts_.push_back({contact, l.customer, 0});
        Bound(contacts_, 2000);
        const std::string opp = NewId("opp");
        const int64_t amount = rng_.Range(1000, 500000);
        Emit("crm.opportunity.created", l.customer, opp,
             Json{{"opportunity_id", opp},
                  {"contact_id", contact},
                  {"name", l.company + " deal"},
                  {"amount", Money(amount)},
                  {"stage", "prospecting"}});
        opportunities_.push_back({opp, l.customer, amount});
        Bound(opportunities_, 2000);
        Emit("crm.lead.converted", l.customer, l.id,
             Json{{"lead_id", l.id}, {"contact_id", contact}, {"opportunity_id", opp}});
        break;
      }
      case kContactUpdate: {
        const Opportunity& c = contacts_[rng_.Uniform(contacts_.size())];
        Emit("crm.contact.updated", c.customer, c.id,
             Json{{"contact_id", c.id},
                  {"phone", "+1-555-" + std::to_string(rng_.Range(1000, 9999))}})
            .reorderable = true;
        break;
      }
      case kOppUpdate: {
        Opportunity& o = opportunities_[rng_.Uniform(opportunities_.size())];
        o.amount_cents = rng_.Range(1000, 500000);
        Emit("crm.opportunity.updated", o.customer, o.id,
             Json{{"opportunity_id", o.id},
                  {"amount", Money(o.amount_cents)},
                  {"stage", Pick(rng_, kStages)}});
        break;
      }
      case kWon: {
        const Opportunity o = TakeRandom(rng_, opportunities_);
        Emit("crm.opportunity.won", o.customer, o.id,
             Json{{"opportunity_id", o.id}, {"amount", Money(o.amount_cents)}});
        break;
      }
      case kLost: {
        const Opportunity o = TakeRandom(rng_, opportunities_);
        Emit("crm.opportunity.lost", o.customer, o.id,
             Json{{"opportunity_id", o.id}, {"reason", "budget"}});
        break;
      }
    }
  }

  std::vector<Lead> leads_;
  std::vector<Opportunity> contacts_;
  std::vector<Opportunity> opportunities_;
};

}  // namespace

const std::vector<std::string>& AllServices() {
  static const std::vector<std::string> kServices = {"billing", "support", "auth", "learning",
                                                     "crm"};
  return kServices;
}

bool IsKnownService(std::string_view service) {
  const auto& all = AllServices();
  return std::find(all.begin(), all.end(), service) != all.end();
}

CustomerPool::CustomerPool(uint64_t seed, int size) {
  Rng rng = Rng(seed).Fork("customers");
  customers_.reserve(static_cast<size_t>(size));
  for (int i = 0; i < size; ++i) {
    Customer c;
    char id[48];
    std::snprintf(id, sizeof(id), "cust-%llu-%04d", static_cast<unsigned long long>(seed), i);
    c.id = id;
    c.first_name = Pick(rng, kFirstNames);
    c.last_name = Pick(rng, kLastNames);
    c.email = Lower(c.first_name) + "." + Lower(c.last_name) + std::to_string(i) + "@" +
              Pick(rng, kDomains);
    c.phone = "+1-555-" + std::to_string(rng.Range(1000, 9999));
    c.company = Pick(rng, kCompanies);
    customers_.push_back(std::move(c));
  }
}

Result<std::unique_ptr<ServiceGenerator>> MakeGenerator(std::string_view service,
                                                        const GeneratorOptions& options) {
  std::unique_ptr<ServiceGenerator> g;
  if (service == "billing") g = std::make_unique<BillingGenerator>(options);
  if (service == "support") g = std::make_unique<SupportGenerator>(options);
  if (service == "auth") g = std::make_unique<AuthGenerator>(options);
  if (service == "learning") g = std::make_unique<LearningGenerator>(options);
  if (service == "crm") g = std::make_unique<CrmGenerator>(options);
  if (!g) {
    return Status::InvalidArgument("unknown service '" + std::string(service) +
                                   "' (expected billing, support, auth, learning, crm or all)");
  }
  return g;
}

std::string ServiceForType(std::string_view type) {
  const auto starts = [&](std::string_view p) { return type.substr(0, p.size()) == p; };
  if (starts("billing.")) return "billing";
  if (starts("support.") || starts("customer.")) return "support";
  if (starts("auth.")) return "auth";
  if (starts("learning.") || starts("homework.") || starts("recommendation.") || starts("focus.")) {
    return "learning";
  }
  if (starts("crm.")) return "crm";
  return "";
}

const std::vector<std::string>& RequiredDataFields(std::string_view type) {
  static const std::vector<std::string> kNone;
  for (const auto& t : Catalog()) {
    if (type == t.type) return t.required;
  }
  return kNone;
}

}  // namespace ingestlab::sim
