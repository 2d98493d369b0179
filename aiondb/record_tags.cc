#include "aiondb/record_tags.h"

namespace walrep::aiondb {
namespace {

// Indexed by tag, as aiondb-wal's WalRecord::tag assigns them.
constexpr absl::string_view kNames[kMaxRecordTag + 1] = {
    "BeginTxn",  // 0
    "CommitTxn",  // 1
    "AbortTxn",  // 2
    "InsertRow",  // 3
    "DeleteRow",  // 4
    "UpdateRow",  // 5
    "CreateTable",  // 6
    "DropTable",  // 7
    "CreateIndex",  // 8
    "DropIndex",  // 9
    "AlterTable",  // 10
    "Checkpoint",  // 11
    "UpdateStatistics",  // 12
    "CatalogCreateSchema",  // 13
    "CatalogDropSchema",  // 14
    "CatalogCreateRole",  // 15
    "CatalogAlterRole",  // 16
    "CatalogDropRole",  // 17
    "CatalogCreateView",  // 18
    "CatalogDropView",  // 19
    "CatalogCreateSequence",  // 20
    "CatalogDropSequence",  // 21
    "CatalogAlterSequence",  // 22
    "CatalogCreateFunction",  // 23
    "CatalogDropFunction",  // 24
    "CatalogCreateTrigger",  // 25
    "CatalogDropTrigger",  // 26
    "CatalogGrantPrivilege",  // 27
    "CatalogRevokePrivilege",  // 28
    "CatalogSetTableDescriptor",  // 29
    "RegisterEdgeTable",  // 30
    "AdjacencyInsert",  // 31
    "AdjacencyRemove",  // 32
    "CatalogDropTable",  // 33
    "CatalogDropIndex",  // 34
    "CatalogUpdateStatistics",  // 35
    "CatalogCreateNodeLabel",  // 36
    "CatalogCreateEdgeLabel",  // 37
    "CatalogDropNodeLabel",  // 38
    "CatalogDropEdgeLabel",  // 39
    "CatalogSetIndexDescriptor",  // 40
    "CatalogCreateTenant",  // 41
    "CatalogDropTenant",  // 42
    "CatalogSetSequenceValue",  // 43
    "FullPageImage",  // 44
    "PagedRowRef",  // 45
    "FullPageImageBatch",  // 46
    "PagePatch",  // 47
    "PagePatchBatch",  // 48
    "PageSetU64Batch",  // 49
    "DiskBtreeMetaUpdate",  // 50
    "DiskBtreeLeafInsert",  // 51
    "DiskBtreeLeafDelete",  // 52
    "DiskBtreeLeafSplit",  // 53
    "DiskBtreeInternalInsert",  // 54
    "DiskBtreeInternalSplit",  // 55
    "DiskBtreeRootGrow",  // 56
    "DiskBtreeInternalDelete",  // 57
    "DiskBtreeLeafRedistribute",  // 58
    "DiskBtreeInternalRedistribute",  // 59
    "DiskBtreeLeafMerge",  // 60
    "DiskBtreeInternalMerge",  // 61
    "DiskBtreeRootShrinkLeaf",  // 62
    "DiskBtreeRootShrinkInternal",  // 63
    "DiskBtreeInternalCollapse",  // 64
    "DiskBtreeRootPromoteSingleChild",  // 65
    "DiskBtreeRootPromoteCollapsedChain",  // 66
    "DiskBtreeInternalCollapseChain",  // 67
    "AutocommitInsertRow",  // 68
    "AutocommitDeleteRow",  // 69
    "AutocommitUpdateRow",  // 70
    "CatalogCreateDomain",  // 71
    "CatalogDropDomain",  // 72
    "CatalogAlterDomain",  // 73
    "CatalogCreateUserType",  // 74
    "CatalogDropUserType",  // 75
    "CatalogAlterUserType",  // 76
    "CatalogCreateCast",  // 77
    "CatalogDropCast",  // 78
    "CatalogCreatePolicy",  // 79
    "CatalogDropPolicy",  // 80
    "CatalogAlterPolicy",  // 81
    "CatalogCreateRule",  // 82
    "CatalogDropRule",  // 83
    "CatalogSetComment",  // 84
    "CatalogDropComment",  // 85
};

}  // namespace

absl::string_view RecordTagName(uint8_t tag) {
  return tag <= kMaxRecordTag ? kNames[tag] : absl::string_view();
}

}  // namespace walrep::aiondb
