package guard

// SetIncarnationForTest makes this process look like another one (a restart)
// until the function it returns is called.
func SetIncarnationForTest(name string) (restore func()) {
	old := incarnation
	incarnation = name
	return func() { incarnation = old }
}
