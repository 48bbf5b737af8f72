// Package dingtoken keeps DingTalk (钉钉) access tokens for Go services.
//
// A [Manager] caches one token per [Fetcher] key, in memory and optionally in
// a [Store] that every process of a deployment shares (see MemcacheStore).
// It fetches a token once however many goroutines want it, refreshes it in
// the background before it expires, backs off when DingTalk fails, and drops
// exactly the token DingTalk rejected (Invalidate) so the next call gets a
// fresh one.
//
// The fetchers speak DingTalk's token endpoints: [AppCredentials] (new API),
// [LegacyAppCredentials] (oapi gettoken) and [CorpCredentials] (ISV suites).
// Their default HTTP client retries what is worth retrying ([NewRetryClient]).
//
// Tokens, app secrets and suite tickets never appear in an error, a log line
// or a formatted [Token].
//
// The dingtalktest package is a DingTalk simulator for tests.
package dingtoken
