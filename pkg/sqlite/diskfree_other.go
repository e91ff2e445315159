//go:build !linux && !darwin

package sqlite

// diskFree is not known here: Ready leaves a full disk to the writes, which
// fail with SQLITE_FULL.
func diskFree(string) (free uint64, known bool, err error) { return 0, false, nil }
