#include "agent/dialect.h"

namespace walrep {
namespace {

class PgSession : public DialectSession {
 public:
  PgSession(const StreamSettings& settings, StreamContext* ctx, const std::atomic<bool>* stop,
            const CancelToken* connect_cancel)
      : session_(settings, ctx, stop) {
    session_.set_connect_cancel(connect_cancel);
  }
  absl::Status Run(const std::function<void(const absl::Status&)>& identity_result) override {
    return session_.Run(identity_result);
  }
  bool primary_shut_down() const override { return session_.primary_shut_down(); }

 private:
  ReplicaSession session_;
};

}  // namespace

std::unique_ptr<DialectSession> PgStreamDialect::NewSession(const StreamSettings& settings,
                                                            const std::atomic<bool>* stop,
                                                            const CancelToken* connect_cancel) {
  return std::make_unique<PgSession>(settings, ctx_, stop, connect_cancel);
}

uint64_t PgStreamDialect::durable_position() const { return ctx_->writer->flush_lsn().value(); }

absl::Status PgStreamDialect::storage_failure() const {
  return ctx_->writer->failed() ? ctx_->writer->failure() : absl::OkStatus();
}

}  // namespace walrep
