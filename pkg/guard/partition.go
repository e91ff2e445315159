package guard

// Partitions (DESIGN 6). exportguard's state is kept in one logical partition
// per judged resource, the resource a finding names: its last known state (and
// its child settings resources' states), its findings, the event keys seen for
// it, its audit chain and its outbox items. One change is one read and one
// atomic, conditional write in that partition, so many Functions instances can
// share one store without a lock in common: two instances meet only when they
// change the same resource, and then one retries.

// SealPartition is the audit chain of seals: the timer's records that chain the
// heads of the partitions' chains into one global order (AuditSeal). It is not
// a resource's partition (those start with "/").
const SealPartition = "~seals"

// PartitionOf returns the partition key of the resource with this ID: the ID
// key (IDKey) of its top-level resource, so that a child settings resource (a
// storage account's blobServices/default, a SQL server's encryptionProtector or
// database) shares its parent's partition, where the findings about it are
// (DESIGN 3.3). An ID that names no provider resource (a subscription) is its
// own partition.
func PartitionOf(resourceID string) string {
	id := resourceID
	for {
		parent := ParentOf(id)
		if parent == "" {
			return IDKey(id)
		}
		id = parent
	}
}
