//go:build !race

package main

// raceEnabled: the tests run without -race, and so does the e2e binary.
const raceEnabled = false
