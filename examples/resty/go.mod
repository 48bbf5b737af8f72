module github.com/dingtoken/dingtoken/examples/resty

go 1.26.8

require (
	github.com/dingtoken/dingtoken v0.0.0
	github.com/go-resty/resty/v2 v2.17.2
)

require (
	github.com/bradfitz/gomemcache v0.0.0-20260422231931-4d751bb6e37c // indirect
	github.com/hashicorp/go-cleanhttp v0.5.2 // indirect
	github.com/hashicorp/go-retryablehttp v0.7.8 // indirect
	golang.org/x/net v0.43.0 // indirect
)

replace github.com/dingtoken/dingtoken => ../..
