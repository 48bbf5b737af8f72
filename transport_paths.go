package dingtoken

import "strings"

// isNewAPIPath reports whether path belongs to the new API, which takes the
// token in a header; the legacy API takes it in the query.
func isNewAPIPath(path string) bool {
	return strings.HasPrefix(path, "/v1.0/") || strings.HasPrefix(path, "/v2.0/")
}

// passesThrough reports whether a request to path is sent without a token of
// ours: DingTalk's token endpoints, which authenticate with secrets, and the
// robot webhooks, which carry a token of their own.
//
// The list follows DingTalk's documentation (files of the
// apolloyyu/kb-dingtalk-open-platform mirror, under
// docs/01-应用开发/02-4a8AMF6u2A-服务端API/):
//
//	/v1.0/oauth2/accessToken        0033-obtain-the-access-token-of-an-internal-app.md
//	/v1.0/oauth2/corpAccessToken    0034-obtain-the-access-token-of-the-authorized-enterprise-1.md, 0038-…
//	/v1.0/oauth2/suiteAccessToken   0036-obtains-the-suite-acess-token-of-third-party-enterprise-applications.md
//	/v1.0/oauth2/userAccessToken    0032-obtain-user-token.md, 0029-obtain-identity-credentials.md
//	/v1.0/oauth2/ssoAccessToken     0025-obtain-the-access-token-of-the-micro-application-background-without-log-on.md
//	/v1.0/oauth2/{corpId}/token     0037-api-gettoken.md
//	/gettoken                       1444-obtain-orgapp-token.md
//	/sns/gettoken                   0035-obtain-personal-application.md
//	/service/get_corp_token         1446-obtain-isvapp-token.md, 1448-obtains-the-enterprise-authorized-credential.md
//	/service/get_suite_token        1445-obtain-application-suite-ticket.md
//	/sso/gettoken                   1449-obtain-the-ssotoken-for-micro-application-background-logon-free.md
//	/robot/send                     0717-custom-robots-send-group-messages.md (the robot's own access_token)
//	/robot/sendBySession            0718-receive-message.md (a session webhook)
//
// and /v1.0/gateway/connections/open, where a Stream mode client registers
// with its client ID and secret (GetConnectionEndpointAPIUrl in
// open-dingtalk/dingtalk-stream-sdk-go, utils/utils.go).
// /v1.0/oauth2/jsapiTickets and /get_jsapi_ticket are not among them: they
// take an access token like any other API.
func passesThrough(path string) bool {
	switch path {
	case "/gettoken", "/sns/gettoken", "/service/get_corp_token", "/service/get_suite_token", "/sso/gettoken",
		"/v1.0/oauth2/accessToken", "/v1.0/oauth2/corpAccessToken", "/v1.0/oauth2/suiteAccessToken",
		"/v1.0/oauth2/userAccessToken", "/v1.0/oauth2/ssoAccessToken",
		"/v1.0/gateway/connections/open",
		"/robot/send", "/robot/sendBySession":
		return true
	}
	// POST /v1.0/oauth2/{corpId}/token
	return strings.HasPrefix(path, "/v1.0/oauth2/") && strings.HasSuffix(path, "/token")
}
