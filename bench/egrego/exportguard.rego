# exportguard's data rules for the resources the benchmark's workload judges,
# written as Rego for Open Policy Agent, with the same semantics as pkg/rules:
#
#   residency.location     every resource with a region (rules.Location)
#   residency.replication  storage accounts (rules.StorageReplication)
#   encryption.cmk         storage accounts (rules.StorageCMK), managed disks (rules.DiskCMK)
#   transit.tls            storage accounts (rules.StorageTLS)
#
# Only the verdict is modelled (rule, resource the finding is about, violation
# or not), not the message and evidence text: the benchmark compares verdicts
# and the time it takes to reach them.
#
# input: {"id": ARM ID, "type": ARM type, "body": the ARM GET body}
# data.policy:  {"allowedRegions": [...], "allowedGeographies": [...], "modes": {rule: off|alert|remediate}}
# data.regions: {programmatic name: {"geography": ..., "pair": ... or ""}}
# data.allowed: {programmatic name: true} for every region the policy admits
package exportguard

# verdicts is the set of {"rule", "resourceId", "violation"} for the input.

normalize(name) := lower(replace(trim_space(name), " ", ""))

# data.allowed holds every region the policy admits, by programmatic name: the
# allowedRegions and every region of an allowedGeographies geography (Data
# computes it from the region table, once).
region_allowed(name) if data.allowed[normalize(name)]

# A rule the policy does not name is off.
enabled(rule) if {
	m := data.policy.modes[rule]
	m != "off"
}

verdict(rule, id, violation) := {"rule": rule, "resourceId": id, "violation": violation}

is_type(t) if lower(trim_space(input.type)) == lower(t)

props := object.get(input.body, "properties", {})

props_object if is_object(input.body.properties)

# --- residency.location ---------------------------------------------------

id_parts := split(trim(input.id, "/"), "/")

provider_at := max({i | some i, p in id_parts; lower(p) == "providers"})

# Resources under a provider's "locations" pseudo-resource (JIT policies) hold
# no data in that region.
under_locations_pseudo if {
	rest := array.slice(id_parts, provider_at + 1, count(id_parts))
	some i, s in rest
	i % 2 == 1
	lower(s) == "locations"
}

# A child's region is its parent's: the finding is the parent's.
location_target := concat("/", array.concat([""], array.slice(id_parts, 0, count(id_parts) - 2))) if {
	(count(id_parts) - provider_at) - 1 >= 5
} else := input.id

location := trim_space(input.body.location) if is_string(input.body.location)

verdicts contains verdict("residency.location", location_target, violation) if {
	enabled("residency.location")
	trim_space(input.type) != ""
	location != ""
	lower(location) != "global"
	not under_locations_pseudo
	violation := not_allowed(location)
}

not_allowed(name) := false if region_allowed(name)

else := true

# --- storage accounts -----------------------------------------------------

storage if is_type("Microsoft.Storage/storageAccounts")

sku := input.body.sku.name

geo_skus := {"grs", "ragrs", "gzrs", "ragzrs"}

redundancy := substring(sku, indexof(sku, "_") + 1, -1) if indexof(sku, "_") >= 0

else := ""

geo if lower(redundancy) in geo_skus

primary := p if {
	p := object.get(props, "primaryLocation", "")
	trim_space(p) != ""
} else := object.get(input.body, "location", "")

# The account's own secondaryLocation, else the primary's paired region.
secondary := s if {
	s := object.get(props, "secondaryLocation", "")
	s != ""
} else := object.get(object.get(data.regions, normalize(primary), {}), "pair", "")

replication_violation := false if not geo

else := true if secondary == ""

else := false if region_allowed(secondary)

else := true

verdicts contains verdict("residency.replication", input.id, replication_violation) if {
	enabled("residency.replication")
	storage
	is_string(sku)
	sku != ""
}

key_source := object.get(object.get(props, "encryption", {}), "keySource", "")

verdicts contains verdict("encryption.cmk", input.id, violation) if {
	enabled("encryption.cmk")
	storage
	props_object
	violation := lower(trim_space(key_source)) != "microsoft.keyvault"
}

# TLS versions as the services write them (TLS1_0, 1.2, Tls12) read as 10..13.
tls_digits(s) := replace(replace(replace(trim_prefix(lower(trim_space(s)), "tls"), "_", ""), ".", ""), "v", "")

tls_numbers := {"1": 10, "10": 10, "11": 11, "12": 12, "13": 13}

tls_version(s) := tls_numbers[tls_digits(s)]

# Cosmos DB's "Tls" is TLS 1.0.
tls_version(s) := 10 if lower(trim_space(s)) == "tls"

tls_ok(s) if tls_version(s) >= 12

# Without minimumTlsVersion a storage account accepts TLS 1.0.
effective_tls := t if {
	t := trim_space(object.get(props, "minimumTlsVersion", ""))
	t != ""
} else := "TLS1_0"

# supportsHttpsTrafficOnly is true unless it says false (or 0, or "false").
flex_false(v) if v == false

flex_false(v) if {
	is_number(v)
	v == 0
}

flex_false(v) if {
	is_string(v)
	lower(v) in {"false", "0"}
}

https_off if flex_false(props.supportsHttpsTrafficOnly)

tls_violation := true if not tls_ok(effective_tls)

else := true if https_off

else := false

verdicts contains verdict("transit.tls", input.id, tls_violation) if {
	enabled("transit.tls")
	storage
	props_object
}

# --- managed disks --------------------------------------------------------

disk_encryption := object.get(props, "encryption", {})

disk_type := trim_space(object.get(disk_encryption, "type", ""))

disk_set := trim_space(object.get(disk_encryption, "diskEncryptionSetId", ""))

# The type, when written, decides; without it, a disk encryption set does.
disk_violation := false if contains(lower(disk_type), "customerkey")

else := false if {
	disk_type == ""
	disk_set != ""
}

else := true

verdicts contains verdict("encryption.cmk", input.id, disk_violation) if {
	enabled("encryption.cmk")
	is_type("Microsoft.Compute/disks")
	props_object
}
