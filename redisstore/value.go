package redisstore

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/dingtoken/dingtoken"
)

// valueVersion starts every stored value: "dt1;<expiry unix ms>;<token>",
// the layout dingtoken.MemcacheStore writes, so that programs in other
// languages read tokens from either store alike.
const valueVersion = "dt1"

func encodeValue(t dingtoken.Token) string {
	return valueVersion + ";" + strconv.FormatInt(t.Expiry.UnixMilli(), 10) + ";" + t.Value
}

// decodeValue reads what encodeValue wrote, and nothing else.
func decodeValue(v string) (dingtoken.Token, error) {
	version, rest, ok := strings.Cut(v, ";")
	if !ok || version != valueVersion {
		return dingtoken.Token{}, errors.New("unknown layout")
	}
	ms, value, ok := strings.Cut(rest, ";")
	if !ok {
		return dingtoken.Token{}, errors.New("no expiry")
	}
	expiry, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || expiry <= 0 || strconv.FormatInt(expiry, 10) != ms {
		return dingtoken.Token{}, errors.New("bad expiry")
	}
	if value == "" || strings.ContainsFunc(value, func(r rune) bool { return r <= ' ' || r == 0x7f || r == ';' }) {
		return dingtoken.Token{}, errors.New("bad token")
	}
	return dingtoken.Token{Value: value, Expiry: time.UnixMilli(expiry)}, nil
}
