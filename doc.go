// Package dingtoken keeps DingTalk (钉钉) access tokens for Go services.
//
// A [Transport] puts a token on every request to DingTalk: in the
// x-acs-dingtalk-access-token header for the new API (/v1.0, /v2.0), in the
// access_token query parameter for the legacy one. When DingTalk rejects the
// token, the Transport drops exactly that token, gets a fresh one and sends
// the request once more. It is also the HttpClient of the official SDK's
// runtime ([Transport.Call]); [Manager.WithToken] serves SDKs that take a
// token string.
//
// A [Manager] caches one token per [Fetcher] key, in memory and optionally in
// a [Store] that every process of a deployment shares ([MemcacheStore], or
// the redisstore module), where tokens are sealed under the app's secret. It
// fetches a token once however many goroutines (and, with a [Locker],
// processes) want it, refreshes it in the background before it expires,
// backs off when DingTalk fails, and damps rejections that are not about the
// token. [Hooks] observe all of it, for metrics and traces.
//
// The fetchers speak DingTalk's token endpoints: [AppCredentials] (new API),
// [LegacyAppCredentials] (oapi gettoken), [CorpCredentials] and
// [SuiteCredentials] (ISV suites, with [SuiteTickets] sharing the pushed
// suite ticket), [ClientCredentials], [SSOCredentials], and [JSAPITicket]
// with [SignJSAPI] for H5 pages. Their default HTTP client retries what is
// worth retrying ([NewRetryClient]).
//
// Tokens, app secrets and suite tickets never appear in an error, a log
// line, a hook or a formatted [Token].
//
// The dingtalktest package is a DingTalk simulator for tests; storetest is
// the conformance suite every Store passes.
package dingtoken
