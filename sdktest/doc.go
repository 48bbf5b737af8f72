// Package sdktest proves dingtoken with the official DingTalk SDK's real
// runtime: darabonba-openapi v2 and tea, whose openapi.Config.HttpClient takes
// a *dingtoken.Transport as it is. It is a module of its own, so that the
// runtime never becomes a dependency of dingtoken; it holds tests only.
package sdktest
