package config

import "github.com/hashicorp/hcl/v2"

// The schemas mirror the file. Attributes are kept as *hcl.Attribute so each value is
// decoded (and each semantic error reported) with its own source range. (gohcl would pull
// in hclwrite and its test-only dependencies, for no gain here.)
var (
	rootSchema = &hcl.BodySchema{
		Attributes: attrs("listen", "database_url", "database_read_url", "database_read_max_lag", "plugin_dir", "public_url", "log_level",
			"log_format", "auto_migrate", "credentials_key", "credentials_old_keys", "metrics_listen"),
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "http"}, {Type: "retry_worker"}, {Type: "poll_worker"}, {Type: "command_worker"}, {Type: "ingest"}, {Type: "retention"},
			{Type: "plugins"}, {Type: "provider", LabelNames: []string{"id"}},
		},
	}
	httpSchema = &hcl.BodySchema{Attributes: attrs("max_body_bytes", "read_header_timeout",
		"read_timeout", "write_timeout", "idle_timeout", "shutdown_timeout", "drain_grace", "return_url",
		"trusted_proxies", "heartbeat_interval", "heartbeat_gone_after"), Blocks: []hcl.BlockHeaderSchema{{Type: "rate_limit"}}}
	rateLimitSchema = &hcl.BodySchema{Attributes: attrs("per_token", "per_client", "burst", "per_webhook_account", "webhook_account_burst")}
	retrySchema     = &hcl.BodySchema{Attributes: attrs("enabled", "interval", "batch_size", "lease",
		"max_attempts", "backoff_base", "backoff_cap")}
	pollSchema    = &hcl.BodySchema{Attributes: attrs("enabled", "interval", "batch_size", "lease")}
	commandSchema = &hcl.BodySchema{Attributes: attrs("enabled", "interval", "batch_size", "device_interval", "default_expiry", "lease")}
	ingestSchema  = &hcl.BodySchema{Attributes: attrs("max_future_skew", "max_past_age", "delivery_id_retention",
		"max_dead_letters_per_account", "max_dead_letter_bytes_per_account", "webhook_secret_overlap", "max_accounts_per_user",
		"max_pools_per_user", "max_test_sessions_per_pool")}
	retentionSchema = &hcl.BodySchema{Attributes: attrs("readings", "audit", "dead_letters")}
	pluginsSchema   = &hcl.BodySchema{Attributes: attrs("start_timeout", "health_interval",
		"health_timeout", "health_failures", "max_restarts", "restart_window", "backoff_base", "backoff_cap", "pass_env", "require_pin", "allow_group_writable", "trusted_keys", "require_signature",
		"max_message_bytes", "max_readings_per_call", "max_device_id_bytes", "max_delivery_id_bytes",
		"max_metric_bytes", "max_unit_bytes", "max_raw_payload_bytes", "max_devices_per_call", "max_device_name_bytes")}
	providerSchema = &hcl.BodySchema{
		Attributes: attrs("enabled", "stage", "pilot_users", "access", "binary", "sha256",
			"webhooks", "poll", "poll_interval", "settings", "secrets", "commands"),
		Blocks: []hcl.BlockHeaderSchema{{Type: "timeouts"}},
	}
	timeoutsSchema = &hcl.BodySchema{Attributes: attrs("describe", "configure", "connect",
		"callback", "discover", "verify_webhook", "webhook", "poll", "health", "send_command")}
)

func attrs(names ...string) []hcl.AttributeSchema {
	out := make([]hcl.AttributeSchema, len(names))
	for i, n := range names {
		out[i] = hcl.AttributeSchema{Name: n}
	}
	return out
}

// section is one decoded block: its attributes by name (absent ones are nil) and the
// range to blame for a missing attribute.
type section struct {
	attrs   hcl.Attributes
	blocks  hcl.Blocks
	missing hcl.Range
	def     hcl.Range
}

func (s section) attr(name string) *hcl.Attribute { return s.attrs[name] }

func (d *decoder) section(body hcl.Body, schema *hcl.BodySchema, def hcl.Range) (section, bool) {
	content, diags := body.Content(schema)
	d.diags = append(d.diags, diags...)
	if content == nil {
		return section{}, false
	}
	return section{attrs: content.Attributes, blocks: content.Blocks, missing: body.MissingItemRange(), def: def}, true
}

// single returns the one block of type typ, reporting duplicates.
func (d *decoder) single(blocks hcl.Blocks, typ string, schema *hcl.BodySchema) (section, bool) {
	var found []*hcl.Block
	for _, b := range blocks {
		if b.Type == typ {
			found = append(found, b)
		}
	}
	if len(found) == 0 {
		return section{}, false
	}
	for _, b := range found[1:] {
		d.errorf(b.DefRange.Ptr(), "Duplicate "+typ+" block", "only one %s block is allowed; another is at %s", typ, found[0].DefRange)
	}
	return d.section(found[0].Body, schema, found[0].DefRange)
}
