package main

import "testing"

// TestISV runs the example against the simulator.
func TestISV(t *testing.T) {
	t.Setenv("MEMCACHED_ADDR", "")
	if err := run(); err != nil {
		t.Fatal(err)
	}
}
