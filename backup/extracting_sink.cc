#include "backup/extracting_sink.h"

#include "wire/status_macros.h"

namespace walrep {

absl::Status ExtractingSink::BeginArchive(absl::string_view archive_name,
                                          absl::string_view tablespace_oid,
                                          absl::string_view server_location) {
  RETURN_IF_ERROR(extractor_->BeginArchive(tablespace_oid, server_location));
  ASSIGN_OR_RETURN(decompressor_, NewDecompressor(compression_));
  tar_ = std::make_unique<TarReader>();
  return absl::OkStatus();
}

absl::Status ExtractingSink::ArchiveData(absl::string_view bytes) {
  return decompressor_->Feed(bytes, [this](absl::string_view plain) {
    return tar_->Feed(plain, extractor_);
  });
}

absl::Status ExtractingSink::EndArchive() {
  RETURN_IF_ERROR(decompressor_->Finish());
  RETURN_IF_ERROR(tar_->Finish());
  tar_.reset();
  decompressor_.reset();
  return extractor_->EndArchive();
}

}  // namespace walrep
