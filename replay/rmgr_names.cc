#include "replay/rmgr_names.h"

#include "absl/strings/str_format.h"

namespace walrep {
namespace {

// xl_info's low four bits belong to the WAL machinery (XLR_INFO_MASK), the high four to
// the resource manager.
constexpr uint8_t kXlrInfoMask = 0x0F;

// One table per resource manager: the value of (info & mask) and its name. `mask` is what
// that rmgr's rm_identify switches on; most use ~XLR_INFO_MASK, a few differ (Transaction
// masks its flag bit away, CommitTs and ReplicationOrigin switch on the raw byte, so any
// XLR flag makes their records UNKNOWN, as in pg_waldump).
struct RecordType {
  uint8_t value;
  const char* name;
};

struct RmgrTable {
  const char* name;
  uint8_t mask;
  const RecordType* types;
  int count;
};

constexpr uint8_t kRmgrMask = static_cast<uint8_t>(~kXlrInfoMask);

constexpr RecordType kXlog[] = {
    {0x00, "CHECKPOINT_SHUTDOWN"},
    {0x10, "CHECKPOINT_ONLINE"},
    {0x20, "NOOP"},
    {0x30, "NEXTOID"},
    {0x40, "SWITCH"},
    {0x50, "BACKUP_END"},
    {0x60, "PARAMETER_CHANGE"},
    {0x70, "RESTORE_POINT"},
    {0x80, "FPW_CHANGE"},
    {0x90, "END_OF_RECOVERY"},
    {0xA0, "FPI_FOR_HINT"},
    {0xB0, "FPI"},
    {0xD0, "OVERWRITE_CONTRECORD"},
};
// XLOG_XACT_OPMASK (0x70): bit 0x80 is XLOG_XACT_HAS_INFO, not part of the type.
constexpr RecordType kXact[] = {
    {0x00, "COMMIT"},          {0x10, "PREPARE"},        {0x20, "ABORT"},
    {0x30, "COMMIT_PREPARED"}, {0x40, "ABORT_PREPARED"}, {0x50, "ASSIGNMENT"},
    {0x60, "INVALIDATION"},
};
constexpr RecordType kSmgr[] = {{0x10, "CREATE"}, {0x20, "TRUNCATE"}};
constexpr RecordType kClog[] = {{0x00, "ZEROPAGE"}, {0x10, "TRUNCATE"}};
constexpr RecordType kDbase[] = {
    {0x00, "CREATE_FILE_COPY"}, {0x10, "CREATE_WAL_LOG"}, {0x20, "DROP"}};
constexpr RecordType kTblspc[] = {{0x00, "CREATE"}, {0x10, "DROP"}};
constexpr RecordType kMultiXact[] = {
    {0x00, "ZERO_OFF_PAGE"}, {0x10, "ZERO_MEM_PAGE"}, {0x20, "CREATE_ID"}, {0x30, "TRUNCATE_ID"}};
constexpr RecordType kRelMap[] = {{0x00, "UPDATE"}};
constexpr RecordType kStandby[] = {
    {0x00, "LOCK"}, {0x10, "RUNNING_XACTS"}, {0x20, "INVALIDATIONS"}};
// 0x80 is XLOG_HEAP_INIT_PAGE; only the combinations PostgreSQL names are listed.
constexpr RecordType kHeap2[] = {
    {0x00, "REWRITE"},           {0x10, "PRUNE"},        {0x20, "VACUUM"},
    {0x30, "FREEZE_PAGE"},       {0x40, "VISIBLE"},      {0x50, "MULTI_INSERT"},
    {0xD0, "MULTI_INSERT+INIT"}, {0x60, "LOCK_UPDATED"}, {0x70, "NEW_CID"},
};
constexpr RecordType kHeap[] = {
    {0x00, "INSERT"},       {0x80, "INSERT+INIT"}, {0x10, "DELETE"},          {0x20, "UPDATE"},
    {0xA0, "UPDATE+INIT"},  {0x40, "HOT_UPDATE"},  {0xC0, "HOT_UPDATE+INIT"}, {0x30, "TRUNCATE"},
    {0x50, "HEAP_CONFIRM"}, {0x60, "LOCK"},        {0x70, "INPLACE"},
};
constexpr RecordType kBtree[] = {
    {0x00, "INSERT_LEAF"},  {0x10, "INSERT_UPPER"},
    {0x20, "INSERT_META"},  {0x30, "SPLIT_L"},
    {0x40, "SPLIT_R"},      {0x50, "INSERT_POST"},
    {0x60, "DEDUP"},        {0x70, "DELETE"},
    {0x80, "UNLINK_PAGE"},  {0x90, "UNLINK_PAGE_META"},
    {0xA0, "NEWROOT"},      {0xB0, "MARK_PAGE_HALFDEAD"},
    {0xC0, "VACUUM"},       {0xD0, "REUSE_PAGE"},
    {0xE0, "META_CLEANUP"},
};
constexpr RecordType kHash[] = {
    {0x00, "INIT_META_PAGE"},  {0x10, "INIT_BITMAP_PAGE"},    {0x20, "INSERT"},
    {0x30, "ADD_OVFL_PAGE"},   {0x40, "SPLIT_ALLOCATE_PAGE"}, {0x50, "SPLIT_PAGE"},
    {0x60, "SPLIT_COMPLETE"},  {0x70, "MOVE_PAGE_CONTENTS"},  {0x80, "SQUEEZE_PAGE"},
    {0x90, "DELETE"},          {0xA0, "SPLIT_CLEANUP"},       {0xB0, "UPDATE_META_PAGE"},
    {0xC0, "VACUUM_ONE_PAGE"},
};
constexpr RecordType kGin[] = {
    {0x10, "CREATE_PTREE"},
    {0x20, "INSERT"},
    {0x30, "SPLIT"},
    {0x40, "VACUUM_PAGE"},
    {0x90, "VACUUM_DATA_LEAF_PAGE"},
    {0x50, "DELETE_PAGE"},
    {0x60, "UPDATE_META_PAGE"},
    {0x70, "INSERT_LISTPAGE"},
    {0x80, "DELETE_LISTPAGE"},
};
constexpr RecordType kGist[] = {
    {0x00, "PAGE_UPDATE"}, {0x10, "DELETE"},      {0x20, "PAGE_REUSE"},
    {0x30, "PAGE_SPLIT"},  {0x60, "PAGE_DELETE"}, {0x70, "ASSIGN_LSN"},
};
constexpr RecordType kSeq[] = {{0x00, "LOG"}};
constexpr RecordType kSpgist[] = {
    {0x10, "ADD_LEAF"},  {0x20, "MOVE_LEAFS"},  {0x30, "ADD_NODE"},    {0x40, "SPLIT_TUPLE"},
    {0x50, "PICKSPLIT"}, {0x60, "VACUUM_LEAF"}, {0x70, "VACUUM_ROOT"}, {0x80, "VACUUM_REDIRECT"},
};
// 0x80 is XLOG_BRIN_INIT_PAGE.
constexpr RecordType kBrin[] = {
    {0x00, "CREATE_INDEX"},  {0x10, "INSERT"},      {0x90, "INSERT+INIT"},
    {0x20, "UPDATE"},        {0xA0, "UPDATE+INIT"}, {0x30, "SAMEPAGE_UPDATE"},
    {0x40, "REVMAP_EXTEND"}, {0x50, "DESUMMARIZE"},
};
constexpr RecordType kCommitTs[] = {{0x00, "ZEROPAGE"}, {0x10, "TRUNCATE"}};
constexpr RecordType kReplOrigin[] = {{0x00, "SET"}, {0x10, "DROP"}};
constexpr RecordType kLogicalMsg[] = {{0x00, "MESSAGE"}};

template <int N>
constexpr RmgrTable Table(const char* name, uint8_t mask, const RecordType (&types)[N]) {
  return RmgrTable{name, mask, types, N};
}

// Indexed by rmgr id (RM_XLOG_ID = 0 ... RM_LOGICALMSG_ID = 21). Generic is special:
// its rm_identify names every record "Generic".
constexpr RmgrTable kRmgrs[] = {
    Table("XLOG", kRmgrMask, kXlog),           Table("Transaction", 0x70, kXact),
    Table("Storage", kRmgrMask, kSmgr),        Table("CLOG", kRmgrMask, kClog),
    Table("Database", kRmgrMask, kDbase),      Table("Tablespace", kRmgrMask, kTblspc),
    Table("MultiXact", kRmgrMask, kMultiXact), Table("RelMap", kRmgrMask, kRelMap),
    Table("Standby", kRmgrMask, kStandby),     Table("Heap2", kRmgrMask, kHeap2),
    Table("Heap", kRmgrMask, kHeap),           Table("Btree", kRmgrMask, kBtree),
    Table("Hash", kRmgrMask, kHash),           Table("Gin", kRmgrMask, kGin),
    Table("Gist", kRmgrMask, kGist),           Table("Sequence", kRmgrMask, kSeq),
    Table("SPGist", kRmgrMask, kSpgist),       Table("BRIN", kRmgrMask, kBrin),
    Table("CommitTs", 0xFF, kCommitTs),        Table("ReplicationOrigin", 0xFF, kReplOrigin),
    RmgrTable{"Generic", 0, nullptr, 0},       Table("LogicalMessage", kRmgrMask, kLogicalMsg),
};
static_assert(sizeof(kRmgrs) / sizeof(kRmgrs[0]) == kMaxBuiltinRmgrId + 1);

constexpr uint8_t kRmGenericId = 20;

}  // namespace

bool RmgrIdIsCustom(uint8_t rmid) { return rmid >= kFirstCustomRmgrId; }

bool RmgrIdIsValid(uint8_t rmid) { return rmid <= kMaxBuiltinRmgrId || RmgrIdIsCustom(rmid); }

std::string RmgrName(uint8_t rmid) {
  if (rmid <= kMaxBuiltinRmgrId) return kRmgrs[rmid].name;
  // pg_waldump cannot load custom managers, so it names them by number.
  if (RmgrIdIsCustom(rmid)) return absl::StrFormat("custom%03u", rmid);
  return "";
}

const char* RmgrIdentify(uint8_t rmid, uint8_t info) {
  if (rmid > kMaxBuiltinRmgrId) return nullptr;
  if (rmid == kRmGenericId) return "Generic";
  const RmgrTable& table = kRmgrs[rmid];
  const uint8_t key = info & table.mask;
  for (int i = 0; i < table.count; ++i) {
    if (table.types[i].value == key) return table.types[i].name;
  }
  return nullptr;
}

std::string RecordTypeName(uint8_t rmid, uint8_t info) {
  const char* id = RmgrIdentify(rmid, info);
  if (id != nullptr) return id;
  return absl::StrFormat("UNKNOWN (%x)", info & ~kXlrInfoMask & 0xFF);
}

}  // namespace walrep
