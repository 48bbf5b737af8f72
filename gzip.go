package dingtoken

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
)

// errTooLarge says a body is over the limit once decompressed.
var errTooLarge = errors.New("larger than the limit once decompressed")

// hasGzipMagic reports whether b starts like a gzip stream (RFC 1952). No
// JSON does, so most bodies need no look at their headers.
func hasGzipMagic(b []byte) bool {
	return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b
}

// isGzipEncoded reports whether h says the body is gzip-compressed, and
// only that.
func isGzipEncoded(h http.Header) bool {
	ce := h["Content-Encoding"]
	if len(ce) != 1 {
		return false
	}
	v := strings.TrimSpace(ce[0])
	return strings.EqualFold(v, "gzip") || strings.EqualFold(v, "x-gzip")
}

// gzipReaders keeps gzip readers for reuse: each holds about 40 KiB of
// decompressor state, which a caller asking for gzip on every call would
// otherwise allocate on every answer.
var gzipReaders sync.Pool

// gunzip decompresses a gzip body of at most limit bytes once decompressed.
// It reads no more than limit+1 bytes of output, so a small body that would
// expand to gigabytes (a gzip bomb) costs no more memory than a large one.
func gunzip(compressed []byte, limit int) ([]byte, error) {
	zr, _ := gzipReaders.Get().(*gzip.Reader)
	if zr == nil {
		zr = new(gzip.Reader) // Reset makes it ready, as gzip.NewReader does
	}
	defer gzipReaders.Put(zr)
	if err := zr.Reset(bytes.NewReader(compressed)); err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(zr, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(out) > limit {
		return nil, errTooLarge
	}
	return out, nil
}
