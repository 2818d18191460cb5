package judge

import "time"

// Deadlines are the host's per-call deadlines, a provider block's timeouts { … }: past
// its deadline a call is cancelled and treated as temporary (a webhook kept for retry, a
// poll backed off, a command's outcome unknown). The host's defaults are
// [DefaultDeadlines], which the conformance kit gives each call too.
type Deadlines struct {
	Describe, Configure, Connect, Callback, Discover time.Duration
	// IngestWebhook, the host's webhook call, gets VerifyWebhook + Webhook.
	VerifyWebhook, Webhook time.Duration
	Poll, SendCommand      time.Duration
}

// DefaultDeadlines are the host's defaults.
var DefaultDeadlines = Deadlines{
	Describe:      5 * time.Second,
	Configure:     5 * time.Second,
	Connect:       10 * time.Second,
	Callback:      15 * time.Second,
	Discover:      30 * time.Second,
	VerifyWebhook: 2 * time.Second,
	Webhook:       5 * time.Second,
	Poll:          30 * time.Second,
	SendCommand:   15 * time.Second,
}
