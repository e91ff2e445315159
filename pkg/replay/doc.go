// Package replay feeds recorded sessions (DESIGN 3.2: JSON lines of eventhub,
// eventgrid, arm and clock records) through the same pipeline the Functions
// handler drives, in-process, on a replay clock. It is how exportguard runs on a
// laptop with no Azure, and how its tests see real-shaped events end to end.
package replay
