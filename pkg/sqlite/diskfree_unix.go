//go:build linux || darwin

package sqlite

import "syscall"

// diskFree returns the bytes an unprivileged writer may still use on the file
// system holding dir (root may use a reserve beyond it on ext4).
func diskFree(dir string) (free uint64, known bool, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), true, nil
}
