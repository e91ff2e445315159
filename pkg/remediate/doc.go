// Package remediate puts resources back the way the policy wants them, safely:
// planned first, approved where the policy says so, applied once, recorded always.
//
// It imports package guard and the standard library only. ARM is reached
// through two small interfaces: guard.ResourceReader to read a resource, and
// Writer (PATCH, PUT, DELETE) to change it. In Azure both are the ARM client
// (package resourcemanager, on azcore's ARM pipeline, pollers included); in
// replay both are the session's recorded ARM (package replay), where a write
// becomes a new observation at the replay clock.
//
// # Parts
//
//   - Planner is a guard.Planner. For a finding that has just become open, of a
//     rule in mode remediate (rules.<rule>.mode), with remediation.mode dry-run,
//     approve or auto, it builds a Plan: the action (type, the ARM calls it would
//     make, its parameters), the resource's state as it was judged (the before
//     state), the finding and the transition. Dry-run records the plan in the
//     audit trail (kind remediation.dry-run) and enqueues nothing. Approve and
//     auto enqueue the plan as an outbox item of Kind "remediate" whose ID is
//     deterministic: "remediate:" + finding ID + ":" + the transition time, so a
//     transition planned twice is enqueued once.
//   - Executor is the guard.Sender for Kind "remediate": the dispatcher hands it
//     the plans that are due. It re-checks everything at the last moment (the
//     finding is still open, from the same transition; the policy still asks for
//     remediation; every ID to be written is in scope; the approval, when one is
//     needed, is there and unexpired), re-reads each resource, checks that it is
//     still in the violating state the plan was made against, makes the write,
//     waits for the long-running operation, reads the resource again, and records
//     before and after in the audit trail. It sets the finding's remediation
//     status to applied or failed through Store.UpdateFinding.
//   - Approvals lists the plans kept in the outbox and approves or denies those
//     that wait for a person (the approver is an Entra ID principal from the API,
//     or the OS user at a terminal).
//
// # Modes (policy remediation.mode, for rules whose mode is remediate)
//
//   - off: nothing is planned.
//   - dry-run: the plan is recorded (audit kind remediation.dry-run); the finding's
//     remediation status is planned; nothing is enqueued and nothing is written.
//     Dry-run works whatever scope.subscriptions says: the record says whether
//     the write would be allowed.
//   - approve: every plan waits for a person (status awaiting-approval).
//   - auto: plans run at once, except those that always need a person: deleting
//     a SQL failover group or a SQL geo-replication link (destructive), which
//     wait for approval in auto mode too.
//
// # Scope: what may be written
//
// Only subscriptions listed in the policy's scope.subscriptions are ever written.
// The list is an allowlist for writes: when it is empty, exportguard still
// watches every subscription it can read (guard.Policy.InScope), but writes to
// none, whatever mode the policy names, and a plan says so (audit kind
// remediation.refused, status none). Every ARM ID a plan would write is checked,
// at planning and again by the executor just before it writes, against the
// policy it runs with then. An ID that names no subscription (a management group
// scope) is never written, nor is one guard.CheckResourceID refuses (a "..",
// "." or empty segment, an escape, a backslash, a control character): the
// subscription is read from whole segments of a checked ID, never from text
// ("/subscriptions/ALLOWED/resourceGroups/rg/../../../subscriptions/OTHER/…"
// names OTHER).
//
// # Actions
//
//	rule                   resource                  action (type)
//	residency.replication  storage account           PATCH sku.name to the non-replicating twin: GRS, RA-GRS to LRS; GZRS, RA-GZRS to ZRS (storage.set-sku)
//	residency.replication  Cosmos DB account         PATCH properties.locations without the regions outside the allowed set, failover priorities renumbered in order (cosmos.remove-regions); none when such a region is the write region
//	residency.replication  SQL failover group        DELETE the failover group; approval always (sql.delete-failover-group)
//	residency.replication  SQL geo-replication link  DELETE the replication link; approval always (sql.delete-replication-link)
//	encryption.cmk         storage account           PATCH properties.encryption back to the previous known Key Vault key (keySource, keyvaultproperties keyname/keyvaulturi/keyversion, identity) (storage.restore-cmk); none when no earlier Key Vault key read from ARM is known
//	transit.tls            storage account           PATCH minimumTlsVersion TLS1_2 and supportsHttpsTrafficOnly true, whichever is wrong (storage.set-tls)
//	transit.tls            SQL server                PATCH minimalTlsVersion 1.2 (sql.set-tls)
//	transit.tls            Cosmos DB account         PATCH minimalTlsVersion Tls12 (cosmos.set-tls)
//	access.jit-overstay    VM (Defender JIT)         DELETE each SecurityCenter-JITRule allow rule still admitting the request's source (network.delete-jit-rule); none when the rule that admits it was not made by JIT
//	access.jit-overstay    PIM role assignment       DELETE the role assignment (authorization.delete-role-assignment)
//	residency.location     any                       never deleted or moved: PATCH the Tags API (Merge) to tag it exportguard-violation=residency.location and exportguard-finding=<finding ID> (resource.tag)
//
// Other findings (SQL TDE, disks, Key Vault keys, access.jit-window,
// access.unscreened-principal) get no automatic action: their remediation
// status is none and the finding alerts as before.
//
// A plan is built only from states read from ARM (DESIGN 3.6): a finding that
// opened on a state an event carried (guard.Resource.FromEvent: a Resource
// Notifications payload, a Key Vault key event) gets action none, and
// storage.restore-cmk restores only a key the account had in a state ARM
// answered. The executor re-checks every plan against ARM before it writes.
//
// Every action is idempotent. Before each write the executor reads the resource
// and classifies it: still in the violating state the plan was made against (the
// write is made), already in the desired state (no write: a re-run, a crash after
// the write, or a person fixed it first), or changed in some other way since the
// plan (no write; the plan fails, since nobody approved acting on that state).
// A DELETE answered 404 is done. The resource that read returns must carry the
// ID the plan reads (case-insensitively, DESIGN 3.4): an answer about another
// resource fails the plan and nothing is written.
//
// # Approvals
//
// A plan that waits for approval is kept in the outbox with NextAttempt at its
// approval deadline (ApprovalWindow, 7 days after planning by default). Approving
// it (Approvals.Approve) enqueues a twin item, ID + ":approved", carrying the
// approval (approver, reason, when) and due at once, and completes the waiting
// one; denying it fails the waiting item with the approver and reason as its
// reason. An approval is good for ApprovalTTL (24 hours by default): an approved
// plan that has not been applied by then (ARM kept failing) is not run any more
// and fails with that reason. A plan nobody approved by its deadline becomes due
// then, and the executor closes it (status none, audit remediation.expired).
// Approving a plan whose finding is no longer open, or has reopened since, is
// refused.
//
// # Outbox, retries, crashes
//
// Plans are stored (outbox) before they run, and audited (remediation.planned).
// A write that fails for a reason that may pass (429, 409 another operation in
// progress, 5xx, a network error, a failed long-running operation) is retried by
// the dispatcher with backoff; after MaxAttempts attempts, or at once when ARM
// refuses the request (other 4xx), the plan fails: the item is kept as failed
// with the reason, the finding's remediation status becomes failed, and the
// audit trail says why. Nothing is written twice after a crash: a plan that ran
// before the crash finds the resource already in the desired state, and one
// whose finding already says applied (for the same transition) is closed
// without reading ARM. Before a write the executor records its intent (audit
// remediation.applying, and the finding's evidence.remediation), so that a crash
// between the write and its record is still reported as applied.
//
// # Record
//
// The audit trail (subject: the finding ID) gets remediation.dry-run,
// remediation.planned, remediation.refused, remediation.none,
// remediation.approved, remediation.denied, remediation.expired,
// remediation.applying, remediation.applied, remediation.not-needed,
// remediation.retry, remediation.failed and remediation.cancelled records, each
// with the plan, the approval when there is one, and, for writes, the state of
// each resource before and after. The finding's remediation status (DESIGN 3.4)
// follows: planned, awaiting-approval, applied, failed, or none when nothing is
// or will be done. The finding's evidence.remediation holds the latest outcome,
// the approver and the reason; the centre replaces a finding's evidence with
// each new violating verdict, so while a finding stays open that copy may be
// overwritten: the audit trail is the record that lasts.
//
// # Concurrency
//
// One Executor serialises its own sends. Two processes dispatching the same
// item at once (two Functions instances) may both act; the precondition check
// and the idempotent actions make the second write harmless, and the second
// run is recorded as not needed.
package remediate
