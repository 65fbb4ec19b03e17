package setup

import (
	"mailward/config"
	"mailward/contentfilter"
	"mailward/smtp"
)

// ContentFilter is the server's [content_filter] as the receive side's
// stage, shared by every virtual server (one rspamd client and its
// connections); nil when off.
func ContentFilter(cfg *config.Config) *smtp.ContentFilter {
	f := cfg.ContentFilter
	if f == nil {
		return nil
	}
	return &smtp.ContentFilter{Scanner: contentfilter.NewClient(f.RspamdURL, f.Timeout.Duration),
		Mapping: contentfilter.Mapping(f.SCLScores), GatewayThreshold: f.GatewayThreshold,
		FailClosed: f.FailClosed(), MaxSize: f.MaxSize}
}

// junkThreshold is the categorizer's store threshold; 0 when off.
func junkThreshold(cfg *config.Config) int {
	if f := cfg.ContentFilter; f != nil && f.StoreThreshold < 10 {
		return f.StoreThreshold
	}
	return 0
}
