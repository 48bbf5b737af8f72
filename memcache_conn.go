package dingtoken

import (
	"errors"
	"io"
	"syscall"
)

// retried runs call, one memcached call, once more on a new connection when
// it failed on a pooled connection that memcached had closed. Every
// connection pooled to a memcached that has since restarted (an upgrade, a
// host's reboot), or that closed it as idle, fails its next call with EOF
// or a reset; gomemcache does not dial again by itself, so the first
// refreshes after a restart would each fail their Store call and fetch
// without the cluster's lock. The other pooled connections went the same
// way, so they are closed first.
//
// The call that failed reached no live memcached: the process that had the
// connection is gone, or closed it between calls. A caller that adds checks
// the owner of what it finds all the same.
func (s *MemcacheStore) retried(call func() error) error {
	err := call()
	if !connClosed(err) {
		return err
	}
	s.client.Close()
	return call()
}

// connClosed reports whether err says memcached closed the connection.
func connClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
