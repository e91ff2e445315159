package resourcemanager

import (
	"maps"
	"slices"
)

// PinnedTypes are the resource types (lower case, sorted) read with a pinned
// api-version: the types the rules were written against. A scan asks Resource
// Graph for those the enabled rules judge, and reads from ARM those Resource
// Graph does not hold.
func PinnedTypes() []string { return slices.Sorted(maps.Keys(apiVersions)) }
