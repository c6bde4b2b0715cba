// FaultInjector: timeline action → call on NatsCluster, KafkaMockCluster, TcpProxy, ingestd.
#include "harness/fault_injector.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>

#include "common/clock.h"
#include "common/log.h"
#include "system/pg/pg_connection.h"
#include "system/store.h"

namespace ingestlab {
namespace {

int16_t KafkaApiKey(const std::string& name) {
  static const std::map<std::string, int16_t> kKeys = {
      {"produce", 0},       {"fetch", 1},        {"list_offsets", 2},      {"metadata", 3},
      {"offset_commit", 8}, {"offset_fetch", 9}, {"find_coordinator", 10}, {"join_group", 11},
      {"heartbeat", 12},    {"sync_group", 14}};
  auto it = kKeys.find(name);
  if (it != kKeys.end()) return it->second;
  return static_cast<int16_t>(std::atoi(name.c_str()));
}

int KafkaErrorCode(const std::string& name) {
  static const std::map<std::string, int> kCodes = {{"transport", -195},
                                                    {"not_leader", 6},
                                                    {"request_timed_out", 7},
                                                    {"not_coordinator", 16},
                                                    {"coordinator_not_available", 15},
                                                    {"leader_not_available", 5},
                                                    {"network_exception", 13}};
  auto it = kCodes.find(name);
  if (it != kCodes.end()) return it->second;
  return std::atoi(name.c_str());
}

}  // namespace

FaultInjector::~FaultInjector() {
  ResumePaused();
  stopping_ = true;
  for (auto& t : lock_threads_) {
    if (t.joinable()) t.join();
  }
}

bool FaultInjector::IsDisruptive(const std::string& a) {
  return a == "kill_ingestd" || a == "stop_ingestd" || a == "restart_ingestd" || a == "kill_nats" ||
         a == "stop_nats" || a == "restart_nats" || a == "pause_nats" || a == "pause_ingestd" ||
         a == "kafka_broker_down" || a == "net_cut" || a == "net_reset" || a == "hold_db_lock" ||
         a == "kill_store" || a == "restart_store";
}

std::string FaultInjector::RecoveryActionFor(const std::string& a) {
  if (a == "kill_ingestd" || a == "stop_ingestd") return "restart_ingestd";
  if (a == "kill_nats" || a == "stop_nats") return "restart_nats";
  if (a == "pause_nats") return "resume_nats";
  if (a == "pause_ingestd") return "resume_ingestd";
  if (a == "kafka_broker_down") return "kafka_broker_up";
  if (a == "net_cut") return "net_restore";
  if (a == "dlq_outage") return "dlq_restore";
  if (a == "kill_store") return "restart_store";
  return "";
}

Result<std::vector<int>> FaultInjector::Targets(const TimelineStep& step, const std::string& prefix,
                                                int count, int first) const {
  std::vector<int> out;
  if (step.target == "all") {
    for (int i = 0; i < count; ++i) out.push_back(first + i);
    return out;
  }
  int index = first;
  if (!step.target.empty()) index = std::atoi(step.target.c_str() + prefix.size());
  if (index < first || index >= first + count) {
    return Status::InvalidArgument("timeline line " + std::to_string(step.line) + ": " +
                                   step.action + " target '" + step.target +
                                   "' does not exist (have " + std::to_string(count) + ")");
  }
  out.push_back(index);
  return out;
}

Status FaultInjector::Apply(const TimelineStep& step) {
  const std::string& a = step.action;
  auto with_targets = [&](const std::string& prefix, int count, int first,
                          const std::function<Status(int)>& fn) -> Status {
    auto targets = Targets(step, prefix, count, first);
    if (!targets.ok()) return targets.status();
    for (int i : *targets) {
      Status st = fn(i);
      if (!st.ok()) return st.Annotate(a + " " + prefix + std::to_string(i));
    }
    return Status::Ok();
  };
  const int ingestds = env_->instance_count();
  const std::string instance = env_->instance_prefix();
  const int nodes = env_->nats().size();
  KafkaMockCluster* kafka = env_->kafka();
  const int brokers = kafka ? kafka->broker_count() : 0;
  if (a.find("kafka_") == 0 && !kafka) {
    return Status::InvalidArgument(a + ": the topology has no Kafka brokers");
  }

  if (a == "kill_ingestd") {
    ingestd_lost_counters_ = true;
    return with_targets(instance, ingestds, 0, [&](int i) { return env_->instance(i).Kill(); });
  }
  if (a == "stop_ingestd") {
    ingestd_lost_counters_ = true;
    return with_targets(instance, ingestds, 0, [&](int i) {
      auto r = env_->instance(i).Terminate();
      return r.ok() ? Status::Ok() : r.status();
    });
  }
  if (a == "restart_ingestd") {
    ingestd_lost_counters_ = true;
    return with_targets(instance, ingestds, 0, [&](int i) { return env_->instance(i).Restart(); });
  }
  if (a == "pause_ingestd") {
    return with_targets(instance, ingestds, 0, [&](int i) {
      INGEST_RETURN_IF_ERROR(env_->instance(i).Pause());
      paused_ingestds_.insert(i);
      return Status::Ok();
    });
  }
  if (a == "resume_ingestd") {
    return with_targets(instance, ingestds, 0, [&](int i) {
      paused_ingestds_.erase(i);
      return env_->instance(i).Resume();
    });
  }
  if (a == "kill_nats")
    return with_targets("nats-", nodes, 0, [&](int i) { return env_->nats().Kill(i); });
  if (a == "stop_nats")
    return with_targets("nats-", nodes, 0, [&](int i) { return env_->nats().Stop(i); });
  if (a == "restart_nats") {
    return with_targets("nats-", nodes, 0, [&](int i) { return env_->nats().Restart(i); });
  }
  if (a == "pause_nats")
    return with_targets("nats-", nodes, 0, [&](int i) { return env_->nats().Pause(i); });
  if (a == "resume_nats")
    return with_targets("nats-", nodes, 0, [&](int i) { return env_->nats().Resume(i); });
  if (a == "kafka_broker_down") {
    return with_targets("broker-", brokers, 1, [&](int i) { return kafka->BrokerDown(i); });
  }
  if (a == "kafka_broker_up") {
    return with_targets("broker-", brokers, 1, [&](int i) { return kafka->BrokerUp(i); });
  }
  if (a == "kafka_rtt") {
    const int rtt_ms = static_cast<int>(std::lround(step.NumberParam("rtt", 0.1) * 1000));
    return with_targets("broker-", brokers, 1, [&](int i) { return kafka->SetRtt(i, rtt_ms); });
  }
  if (a == "kafka_leader_move") {
    auto topic_it = step.params.find("topic");
    const std::string topic = topic_it == step.params.end() ? "billing.events" : topic_it->second;
    const int partition = static_cast<int>(step.NumberParam("partition", 0));
    const int broker = static_cast<int>(step.NumberParam("broker", brokers > 1 ? 2 : 1));
    return kafka->SetPartitionLeader(topic, partition, broker);
  }
  if (a == "kafka_request_errors") {
    auto api_it = step.params.find("api");
    auto err_it = step.params.find("error");
    const int16_t api = KafkaApiKey(api_it == step.params.end() ? "fetch" : api_it->second);
    const int code = KafkaErrorCode(err_it == step.params.end() ? "transport" : err_it->second);
    const int count = static_cast<int>(step.NumberParam("count", 5));
    kafka->PushRequestErrors(api, std::vector<int>(static_cast<size_t>(count), code));
    return Status::Ok();
  }
  if (a == "net_cut" || a == "net_restore" || a == "net_latency" || a == "net_bandwidth" ||
      a == "net_reset") {
    if (env_->proxy_count() == 0) {
      return Status::InvalidArgument(a + ": this environment has no network fault proxies");
    }
    return with_targets("nats-", env_->proxy_count(), 0, [&](int i) {
      TcpProxy& proxy = env_->proxy(i);
      if (a == "net_cut") {
        auto mode = step.params.find("mode");
        proxy.Cut(mode != step.params.end() && mode->second == "blackhole" ? CutMode::kBlackhole
                                                                           : CutMode::kClose);
      } else if (a == "net_restore") {
        proxy.ClearFaults();
      } else if (a == "net_latency") {
        proxy.SetLatency(std::llround(step.NumberParam("latency", 0.05) * 1000),
                         std::llround(step.NumberParam("jitter", 0) * 1000));
      } else if (a == "net_bandwidth") {
        proxy.SetBandwidth(std::llround(step.NumberParam("kbps", 64) * 1024));
      } else {
        proxy.ResetAll();
      }
      return Status::Ok();
    });
  }
  if (a == "hold_db_lock") return HoldDbLock(step.for_s.value_or(5));
  if (a == "kill_store" || a == "restart_store") {
    PostgresServer* pg = env_->postgres();
    if (pg == nullptr) return Status::InvalidArgument(a + ": the store is not PostgreSQL");
    return (a == "kill_store" ? pg->Kill() : pg->Restart()).Annotate(a);
  }
  if (a == "dlq_outage" || a == "dlq_restore") {
    const bool down = a == "dlq_outage";
    // NATS: the DLQ stream stops taking dlq.> (its messages stay), so every dead-letter publish
    // fails at once with "no responders".
    if (down && dlq_subjects_.empty()) {
      auto before = env_->nats().SetStreamSubjects(kDlqStream, {"dlq-outage.>"});
      if (!before.ok()) return before.status().Annotate(a);
      dlq_subjects_ = std::move(*before);
    } else if (!down && !dlq_subjects_.empty()) {
      auto before = env_->nats().SetStreamSubjects(kDlqStream, dlq_subjects_);
      if (!before.ok()) return before.status().Annotate(a);
      dlq_subjects_.clear();
    }
    // Kafka: the <topic>.dlq partitions lose their leader, so a dead letter waits for its
    // delivery report until the producer's message timeout (15 s in ingestd).
    if (kafka != nullptr) {
      for (const std::string& topic : KafkaClusterOptions::DefaultTopics()) {
        if (topic.size() < 4 || topic.compare(topic.size() - 4, 4, ".dlq") != 0) continue;
        for (int p = 0; p < kafka->partitions(); ++p) {
          INGEST_RETURN_IF_ERROR(
              kafka->SetPartitionLeader(topic, p, down ? -1 : 1 + p % brokers).Annotate(a));
        }
      }
    }
    return Status::Ok();
  }
  if (a == "set_rate") {
    set_rate_(step.target, step.NumberParam("rate", 0), std::llround(step.at_s * 1000));
    return Status::Ok();
  }
  if (a.rfind("downstream_", 0) == 0) return SetDownstreamFault(step, /*on=*/true);
  return Status::InvalidArgument("unknown action '" + a + "'");
}

Status FaultInjector::SetDownstreamFault(const TimelineStep& step, bool on) {
  sim::DownstreamSet* set = env_->downstreams();
  if (set == nullptr) {
    return Status::InvalidArgument(step.action + ": no downstream services run (context:)");
  }
  for (const auto& service : set->services()) {
    if (step.target != "all" && step.target != service->name()) continue;
    // Each action sets its own part of the service's fault, so overlapping windows of two
    // actions on one service end independently.
    sim::DownstreamFault& fault = downstream_faults_[service->name()];
    if (step.action == "downstream_slow") {
      fault.latency_ms = on ? std::llround(step.NumberParam("latency", 0) * 1000) : 0;
    } else if (step.action == "downstream_error") {
      fault.error_rate = on ? step.NumberParam("rate", 0) : 0;
    } else {
      fault.down = on;
    }
    INGEST_RETURN_IF_ERROR(service->SetFault(fault).Annotate(step.action + " " + service->name()));
  }
  return Status::Ok();
}

Status FaultInjector::Undo(const TimelineStep& step) {
  const std::string& a = step.action;
  TimelineStep inverse = step;
  if (a == "kill_ingestd" || a == "stop_ingestd") {
    auto targets = Targets(step, env_->instance_prefix(), env_->instance_count(), 0);
    if (!targets.ok()) return targets.status();
    for (int i : *targets) {
      if (!env_->instance(i).running()) {
        INGEST_RETURN_IF_ERROR(env_->instance(i).StartAgain().Annotate("restarting after " + a));
      }
    }
    return Status::Ok();
  }
  if (a == "kill_nats" || a == "stop_nats") {
    inverse.action = "restart_nats";
  } else if (a == "pause_nats") {
    inverse.action = "resume_nats";
  } else if (a == "pause_ingestd") {
    inverse.action = "resume_ingestd";
  } else if (a == "kafka_broker_down") {
    inverse.action = "kafka_broker_up";
  } else if (a == "kafka_rtt") {
    inverse.params["rtt"] = "0";
  } else if (a == "kafka_request_errors") {
    auto api_it = step.params.find("api");
    env_->kafka()->ClearRequestErrors(
        KafkaApiKey(api_it == step.params.end() ? "fetch" : api_it->second));
    return Status::Ok();
  } else if (a == "net_cut" || a == "net_latency" || a == "net_bandwidth") {
    inverse.action = "net_restore";
  } else if (a == "dlq_outage") {
    inverse.action = "dlq_restore";
  } else if (a == "kill_store") {
    inverse.action = "restart_store";
  } else if (a.rfind("downstream_", 0) == 0) {
    return SetDownstreamFault(step, /*on=*/false);
  } else {
    return Status::Ok();  // instantaneous actions and hold_db_lock (which undoes itself)
  }
  return Apply(inverse);
}

void FaultInjector::ResumePaused() {
  for (int i : paused_ingestds_) {
    if (i >= env_->instance_count()) continue;
    SystemProcess& p = env_->instance(i);
    if (!p.running()) continue;
    Status st = p.Resume();
    if (!st.ok()) {
      LOG(kWarn, "harness") << "resuming " << p.name() << ": " << st.message();
    }
  }
  paused_ingestds_.clear();
}

Status FaultInjector::HoldDbLock(double seconds) {
  // The store's write lock: SQLite's (a write transaction), or on PostgreSQL the writers' turn
  // (store.cc) and the events table, which every write transaction needs.
  auto db = OpenSideConnection(env_->db_path(), 5000);
  if (!db.ok()) return db.status().Annotate("hold_db_lock");
  const bool postgres = (*db)->dialect() == SqlDialect::kPostgres;
  Status st = (*db)->Execute(postgres ? std::string("BEGIN; ") + kPostgresWriterTurn +
                                            "; LOCK TABLE events IN EXCLUSIVE MODE"
                                      : std::string("BEGIN IMMEDIATE"),
                             "take the write lock");
  if (!st.ok()) return st.Annotate("hold_db_lock");
  std::shared_ptr<SqlConnection> held(std::move(*db));
  lock_threads_.emplace_back([this, held, seconds] {
    Clock& clock = Clock::System();
    const int64_t until = clock.NowMonoNanos() + static_cast<int64_t>(seconds * 1e9);
    while (!stopping_.load() && clock.NowMonoNanos() < until) {
      clock.SleepFor(std::chrono::milliseconds(20));
    }
    held->Execute("ROLLBACK", "release the write lock");
  });
  return Status::Ok();
}

}  // namespace ingestlab
