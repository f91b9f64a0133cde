//go:build !race

package httpd

// r2Race: the test binary runs under the race detector, which is what
// turns a data race into a test failure.
const r2Race = false
