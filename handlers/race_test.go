//go:build race

package handlers

// raceEnabled reports that the race detector is on: timing is not asserted.
const raceEnabled = true
