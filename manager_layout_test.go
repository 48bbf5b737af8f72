package dingtoken

import (
	"testing"
	"unsafe"
)

// TestHitStateFitsACacheLine: what a cache hit reads of a keyState and of
// an entry lies in their first 64 bytes, and each takes one 128-byte size
// class, whose objects start on a cache line: with 100,000 keys, a hit
// through a fetcher slot touches one line of the entry, and any other hit
// one line of each.
func TestHitStateFitsACacheLine(t *testing.T) {
	var ks keyState
	var e entry
	for _, tt := range []struct {
		name      string
		end, size uintptr
	}{
		{"keyState.m, current, forgotten", max(unsafe.Offsetof(ks.m)+unsafe.Sizeof(ks.m),
			unsafe.Offsetof(ks.current)+unsafe.Sizeof(ks.current), unsafe.Offsetof(ks.forgotten)+unsafe.Sizeof(ks.forgotten)), unsafe.Sizeof(ks)},
		{"entry.due, retired, m, token", max(unsafe.Offsetof(e.due)+unsafe.Sizeof(e.due), unsafe.Offsetof(e.retired)+unsafe.Sizeof(e.retired),
			unsafe.Offsetof(e.m)+unsafe.Sizeof(e.m), unsafe.Offsetof(e.token)+unsafe.Sizeof(e.token)), unsafe.Sizeof(e)},
	} {
		// Sizes from 113 to 128 bytes take the 128-byte size class.
		if tt.end > 64 || tt.size <= 112 || tt.size > 128 {
			t.Errorf("%s end at byte %d of %d, want within 64 of an object in the 128-byte size class", tt.name, tt.end, tt.size)
		}
	}
}
