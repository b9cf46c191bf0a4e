//go:build !race

package humanlog

const raceEnabled = false
