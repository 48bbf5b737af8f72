package dingtoken

import (
	"bytes"
	"hash/maphash"
	"sync/atomic"

	"github.com/bradfitz/gomemcache/memcache"
)

// casMemo remembers, for a few keys, the token item a get last returned,
// with the cas id memcached gave it. A refresh that replaces a token it
// knows (its own, due for refresh, or one DingTalk rejected) then puts its
// lock in the token's place with one cas, where it would read the item
// first: one round trip fewer before a revoked token's request is sent
// again. Keys that share a slot take turns, and a key whose item is not
// there is read first, as without the memo: its memory is fixed, however
// many keys an ISV has.
type casMemo struct {
	slots [casMemoSlots]atomic.Pointer[memcache.Item]
}

const casMemoSlots = 64

var casMemoSeed = maphash.MakeSeed()

func (m *casMemo) slot(key string) *atomic.Pointer[memcache.Item] {
	return &m.slots[maphash.String(casMemoSeed, key)%casMemoSlots]
}

// remember keeps item as a get returned it; nothing may change it after.
func (m *casMemo) remember(item *memcache.Item) { m.slot(item.Key).Store(item) }

// holding returns a copy of the item last seen under key, to change and
// cas, if it holds value; else nil.
func (m *casMemo) holding(key string, value []byte) *memcache.Item {
	item := m.slot(key).Load()
	if item == nil || item.Key != key || !bytes.Equal(item.Value, value) {
		return nil
	}
	c := *item
	return &c
}
