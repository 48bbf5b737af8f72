package main

import "testing"

// TestQuickstart runs the README's first command against the simulator.
func TestQuickstart(t *testing.T) {
	t.Setenv("DINGTALK_CLIENT_ID", "")
	t.Setenv("MEMCACHED_ADDR", "")
	if err := run(); err != nil {
		t.Fatal(err)
	}
}
