package config

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

func (d *decoder) config(root section) *Config {
	c := &Config{
		HTTP:          DefaultHTTP,
		RetryWorker:   DefaultRetryWorker,
		PollWorker:    DefaultPollWorker,
		Ingest:        DefaultIngest,
		CommandWorker: DefaultCommandWorker,
		Plugins:       DefaultPlugins,
	}
	a := root.attr

	c.Listen = d.str(a("listen"), DefaultListen)
	if err := checkListen(c.Listen); err != nil {
		d.errorf(a("listen").Expr.Range().Ptr(), "Invalid listen address", "%s", err)
	}

	c.DatabaseURL = d.str(a("database_url"), "")
	switch dbAttr := a("database_url"); {
	case dbAttr == nil && d.pluginsOnly: // plugins alone open no database
	case dbAttr == nil:
		d.errorf(&root.missing, "Missing database_url", `database_url is required, e.g. "sqlite:data/poolhost.db" or "postgres://user@host/db"`)
	case c.DatabaseURL == "":
		d.errorf(dbAttr.Expr.Range().Ptr(), "Invalid database_url", "database_url must not be empty")
	case !strings.HasPrefix(c.DatabaseURL, "sqlite:") && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://"):
		// Do not echo the URL: it may carry a password.
		d.errorf(dbAttr.Expr.Range().Ptr(), "Invalid database_url", `database_url must start with "sqlite:", "postgres://" or "postgresql://"`)
	}

	// A streaming standby for lag-tolerant reads (host/store/replica.go).
	c.DatabaseReadURL = d.str(a("database_read_url"), "")
	switch readAttr := a("database_read_url"); {
	case readAttr == nil:
	case !strings.HasPrefix(c.DatabaseReadURL, "postgres://") && !strings.HasPrefix(c.DatabaseReadURL, "postgresql://"):
		// Do not echo the URL: it may carry a password.
		d.errorf(readAttr.Expr.Range().Ptr(), "Invalid database_read_url", `database_read_url must be a PostgreSQL standby: "postgres://" or "postgresql://"`)
	case !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://"):
		d.errorf(readAttr.Expr.Range().Ptr(), "Invalid database_read_url", "database_read_url needs a PostgreSQL database_url: it is that database's streaming standby")
	}
	c.DatabaseReadMaxLag = d.duration(a("database_read_max_lag"), DefaultDatabaseReadMaxLag)

	pluginDir := d.str(a("plugin_dir"), DefaultPluginDir)
	if abs, err := filepath.Abs(pluginDir); err == nil {
		pluginDir = abs
	}
	c.PluginDir = pluginDir

	c.PublicURL = strings.TrimRight(d.str(a("public_url"), DefaultPublicURL(c.Listen)), "/")
	c.PublicURLFromListen = a("public_url") == nil
	if a("public_url") != nil {
		d.absURL(a("public_url"), c.PublicURL)
	}
	c.LogLevel = d.oneOf(a("log_level"), "info", "trace", "debug", "info", "warn", "error", "off")
	c.LogFormat = d.oneOf(a("log_format"), "text", "text", "json")
	c.AutoMigrate = d.boolean(a("auto_migrate"), true)
	if ml := a("metrics_listen"); ml != nil {
		c.MetricsListen = d.str(ml, "")
		if err := checkListen(c.MetricsListen); err != nil {
			d.errorf(ml.Expr.Range().Ptr(), "Invalid metrics_listen address", "%s", err)
		} else if c.MetricsListen == c.Listen {
			d.errorf(ml.Expr.Range().Ptr(), "Invalid metrics_listen address", "metrics_listen must differ from listen (%s)", c.Listen)
		}
	}

	if a("credentials_key") == nil {
		if !d.pluginsOnly { // plugins alone never touch stored credentials
			d.errorf(&root.missing, "Missing credentials_key", `credentials_key is required: a base64 32-byte key from env("NAME") or file("path")`)
		}
	} else if k, ok := d.key(a("credentials_key").Expr, "credentials_key"); ok {
		c.CredentialsKey = k
	}
	if old := a("credentials_old_keys"); old != nil {
		tuple, _ := old.Expr.(*hclsyntax.TupleConsExpr)
		if tuple == nil {
			d.errorf(old.Expr.Range().Ptr(), "Invalid value for credentials_old_keys", `a list of env("NAME") or file("path") calls is required`)
		} else {
			for i, e := range tuple.Exprs {
				if k, ok := d.key(e, fmt.Sprintf("credentials_old_keys[%d]", i)); ok {
					if k.ID == c.CredentialsKey.ID {
						d.errorf(e.Range().Ptr(), "Duplicate key", "credentials_old_keys[%d] is the current credentials_key", i)
						continue
					}
					c.CredentialsOldKeys = append(c.CredentialsOldKeys, k)
				}
			}
		}
	}

	if h, ok := d.single(root.blocks, "http", httpSchema); ok {
		c.HTTP.MaxBodyBytes = d.integer(h.attr("max_body_bytes"), c.HTTP.MaxBodyBytes, 1)
		c.HTTP.ReadHeaderTimeout = d.duration(h.attr("read_header_timeout"), c.HTTP.ReadHeaderTimeout)
		c.HTTP.ReadTimeout = d.duration(h.attr("read_timeout"), c.HTTP.ReadTimeout)
		c.HTTP.WriteTimeout = d.duration(h.attr("write_timeout"), c.HTTP.WriteTimeout)
		c.HTTP.IdleTimeout = d.duration(h.attr("idle_timeout"), c.HTTP.IdleTimeout)
		c.HTTP.ShutdownTimeout = d.duration(h.attr("shutdown_timeout"), c.HTTP.ShutdownTimeout)
		c.HTTP.DrainGrace = d.duration(h.attr("drain_grace"), c.HTTP.DrainGrace)
		c.HTTP.HeartbeatInterval = d.duration(h.attr("heartbeat_interval"), c.HTTP.HeartbeatInterval)
		c.HTTP.HeartbeatGoneAfter = d.duration(h.attr("heartbeat_gone_after"), c.HTTP.HeartbeatGoneAfter)
		d.heartbeat(h, c.HTTP.HeartbeatInterval, c.HTTP.HeartbeatGoneAfter)
		c.HTTP.ReturnURL = d.str(h.attr("return_url"), "")
		if c.HTTP.ReturnURL != "" {
			d.absURL(h.attr("return_url"), c.HTTP.ReturnURL)
		}
		c.HTTP.TrustedProxies = d.prefixes(h.attr("trusted_proxies"))
		if rl, ok := d.single(h.blocks, "rate_limit", rateLimitSchema); ok {
			c.HTTP.RateLimit.PerToken = d.rate(rl.attr("per_token"), c.HTTP.RateLimit.PerToken)
			c.HTTP.RateLimit.PerClient = d.rate(rl.attr("per_client"), c.HTTP.RateLimit.PerClient)
			c.HTTP.RateLimit.Burst = int(d.integer(rl.attr("burst"), int64(c.HTTP.RateLimit.Burst), 1))
			c.HTTP.RateLimit.PerWebhookAccount = d.rate(rl.attr("per_webhook_account"), c.HTTP.RateLimit.PerWebhookAccount)
			c.HTTP.RateLimit.WebhookAccountBurst = int(d.integer(rl.attr("webhook_account_burst"), int64(c.HTTP.RateLimit.WebhookAccountBurst), 1))
		}
	}
	if r, ok := d.single(root.blocks, "retry_worker", retrySchema); ok {
		c.RetryWorker.Enabled = d.boolean(r.attr("enabled"), c.RetryWorker.Enabled)
		c.RetryWorker.Interval = d.duration(r.attr("interval"), c.RetryWorker.Interval)
		c.RetryWorker.BatchSize = int(d.integer(r.attr("batch_size"), int64(c.RetryWorker.BatchSize), 1))
		c.RetryWorker.Lease = d.duration(r.attr("lease"), c.RetryWorker.Lease)
		d.noteLease("retry_worker", r)
		c.RetryWorker.MaxAttempts = int(d.integer(r.attr("max_attempts"), int64(c.RetryWorker.MaxAttempts), 1))
		c.RetryWorker.BackoffBase = d.duration(r.attr("backoff_base"), c.RetryWorker.BackoffBase)
		c.RetryWorker.BackoffCap = d.duration(r.attr("backoff_cap"), c.RetryWorker.BackoffCap)
		d.backoffOrder(r, "retry_worker", c.RetryWorker.BackoffBase, c.RetryWorker.BackoffCap)
	}
	if p, ok := d.single(root.blocks, "poll_worker", pollSchema); ok {
		c.PollWorker.Enabled = d.boolean(p.attr("enabled"), c.PollWorker.Enabled)
		c.PollWorker.Interval = d.duration(p.attr("interval"), c.PollWorker.Interval)
		c.PollWorker.BatchSize = int(d.integer(p.attr("batch_size"), int64(c.PollWorker.BatchSize), 1))
		c.PollWorker.Lease = d.duration(p.attr("lease"), c.PollWorker.Lease)
		d.noteLease("poll_worker", p)
	}
	if w, ok := d.single(root.blocks, "command_worker", commandSchema); ok {
		c.CommandWorker.Enabled = d.boolean(w.attr("enabled"), c.CommandWorker.Enabled)
		c.CommandWorker.Interval = d.duration(w.attr("interval"), c.CommandWorker.Interval)
		c.CommandWorker.BatchSize = int(d.integer(w.attr("batch_size"), int64(c.CommandWorker.BatchSize), 1))
		c.CommandWorker.DeviceInterval = d.duration(w.attr("device_interval"), c.CommandWorker.DeviceInterval)
		c.CommandWorker.DefaultExpiry = d.duration(w.attr("default_expiry"), c.CommandWorker.DefaultExpiry)
		c.CommandWorker.Lease = d.duration(w.attr("lease"), c.CommandWorker.Lease)
		d.noteLease("command_worker", w)
		if c.CommandWorker.DefaultExpiry <= 0 || c.CommandWorker.DefaultExpiry > MaxCommandExpiry {
			d.errorf(w.def.Ptr(), "Invalid command_worker default_expiry", "default_expiry must be positive and at most %s", MaxCommandExpiry)
		}
	}
	if i, ok := d.single(root.blocks, "ingest", ingestSchema); ok {
		c.Ingest.MaxFutureSkew = d.duration(i.attr("max_future_skew"), c.Ingest.MaxFutureSkew)
		c.Ingest.MaxPastAge = d.duration(i.attr("max_past_age"), c.Ingest.MaxPastAge)
		c.Ingest.DeliveryIDRetention = d.duration(i.attr("delivery_id_retention"), c.Ingest.DeliveryIDRetention)
		c.Ingest.MaxDeadLettersPerAccount = int(d.integer(i.attr("max_dead_letters_per_account"), int64(c.Ingest.MaxDeadLettersPerAccount), 1))
		c.Ingest.MaxDeadLetterBytesPerAccount = d.integer(i.attr("max_dead_letter_bytes_per_account"), c.Ingest.MaxDeadLetterBytesPerAccount, 1)
		c.Ingest.MaxAccountsPerUser = int(d.integer(i.attr("max_accounts_per_user"), int64(c.Ingest.MaxAccountsPerUser), 1))
		c.Ingest.MaxPoolsPerUser = int(d.integer(i.attr("max_pools_per_user"), int64(c.Ingest.MaxPoolsPerUser), 1))
		c.Ingest.MaxTestSessionsPerPool = int(d.integer(i.attr("max_test_sessions_per_pool"), int64(c.Ingest.MaxTestSessionsPerPool), 1))
		c.Ingest.WebhookSecretOverlap = d.duration(i.attr("webhook_secret_overlap"), c.Ingest.WebhookSecretOverlap)
		if c.Ingest.WebhookSecretOverlap > MaxWebhookSecretOverlap {
			d.errorf(i.attr("webhook_secret_overlap").Expr.Range().Ptr(), "Invalid ingest webhook_secret_overlap",
				"webhook_secret_overlap must be at most %s (a rotated-away secret must stop working)", MaxWebhookSecretOverlap)
		}
	}
	if r, ok := d.single(root.blocks, "retention", retentionSchema); ok {
		c.Retention.Readings = d.retention(r.attr("readings"))
		c.Retention.Audit = d.retention(r.attr("audit"))
		c.Retention.DeadLetters = d.retention(r.attr("dead_letters"))
		// Ingest accepts a reading up to max_past_age old. Kept for less, a reading
		// stored late could land in a month retention is dropping: its horizon check
		// (host/retention, store.RollupHorizon) and the drop are separate
		// transactions, so such a reading could go before the rollups hold it.
		if c.Retention.Readings > 0 && c.Retention.Readings < c.Ingest.MaxPastAge {
			d.errorf(r.attr("readings").Expr.Range().Ptr(), "Invalid duration for readings",
				"retention readings (%s) must be at least ingest max_past_age (%s): readings that old are still accepted",
				days(c.Retention.Readings), days(c.Ingest.MaxPastAge))
		}
	}
	if p, ok := d.single(root.blocks, "plugins", pluginsSchema); ok {
		c.Plugins.StartTimeout = d.duration(p.attr("start_timeout"), c.Plugins.StartTimeout)
		c.Plugins.HealthInterval = d.duration(p.attr("health_interval"), c.Plugins.HealthInterval)
		c.Plugins.HealthTimeout = d.duration(p.attr("health_timeout"), c.Plugins.HealthTimeout)
		c.Plugins.HealthFailures = int(d.integer(p.attr("health_failures"), int64(c.Plugins.HealthFailures), 1))
		c.Plugins.MaxRestarts = int(d.integer(p.attr("max_restarts"), int64(c.Plugins.MaxRestarts), 0))
		c.Plugins.RestartWindow = d.duration(p.attr("restart_window"), c.Plugins.RestartWindow)
		c.Plugins.BackoffBase = d.duration(p.attr("backoff_base"), c.Plugins.BackoffBase)
		c.Plugins.BackoffCap = d.duration(p.attr("backoff_cap"), c.Plugins.BackoffCap)
		c.Plugins.PassEnv = d.stringList(p.attr("pass_env"))
		if a := p.attr("pass_env"); a != nil {
			d.passEnvAt = a.Expr.Range().Ptr()
		}
		c.Plugins.RequirePin = d.boolean(p.attr("require_pin"), c.Plugins.RequirePin)
		c.Plugins.AllowGroupWritable = d.boolean(p.attr("allow_group_writable"), c.Plugins.AllowGroupWritable)
		c.Plugins.TrustedKeys = d.trustedKeys(p.attr("trusted_keys"))
		c.Plugins.RequireSignature = d.boolean(p.attr("require_signature"), c.Plugins.RequireSignature)
		if c.Plugins.RequireSignature && len(c.Plugins.TrustedKeys) == 0 {
			d.errorf(p.def.Ptr(), "Missing trusted_keys", "plugins { require_signature = true } needs trusted_keys = [\"ed25519:…\"]: the public keys of the release keys you accept (poolhost plugins keygen prints one)")
		}
		c.Plugins.MaxMessageBytes = d.integer(p.attr("max_message_bytes"), c.Plugins.MaxMessageBytes, 1<<10)
		c.Plugins.MaxReadingsPerCall = int(d.integer(p.attr("max_readings_per_call"), int64(c.Plugins.MaxReadingsPerCall), 1))
		c.Plugins.MaxDeviceIDBytes = int(d.integer(p.attr("max_device_id_bytes"), int64(c.Plugins.MaxDeviceIDBytes), 1))
		c.Plugins.MaxDeliveryIDBytes = int(d.integer(p.attr("max_delivery_id_bytes"), int64(c.Plugins.MaxDeliveryIDBytes), 1))
		c.Plugins.MaxMetricBytes = int(d.integer(p.attr("max_metric_bytes"), int64(c.Plugins.MaxMetricBytes), 1))
		c.Plugins.MaxUnitBytes = int(d.integer(p.attr("max_unit_bytes"), int64(c.Plugins.MaxUnitBytes), 1))
		c.Plugins.MaxRawPayloadBytes = int(d.integer(p.attr("max_raw_payload_bytes"), int64(c.Plugins.MaxRawPayloadBytes), 1))
		c.Plugins.MaxDevicesPerCall = int(d.integer(p.attr("max_devices_per_call"), int64(c.Plugins.MaxDevicesPerCall), 1))
		c.Plugins.MaxDeviceNameBytes = int(d.integer(p.attr("max_device_name_bytes"), int64(c.Plugins.MaxDeviceNameBytes), 1))
		d.backoffOrder(p, "plugins", c.Plugins.BackoffBase, c.Plugins.BackoffCap)
	}

	seen := map[string]hcl.Range{}
	for _, b := range root.blocks {
		if b.Type != "provider" {
			continue
		}
		id := b.Labels[0]
		if prev, dup := seen[id]; dup {
			d.errorf(b.DefRange.Ptr(), "Duplicate provider", "provider %q is already defined at %s", id, prev)
			continue
		}
		seen[id] = b.DefRange
		ps, ok := d.section(b.Body, providerSchema, b.DefRange)
		if !ok {
			continue
		}
		c.Providers = append(c.Providers, d.provider(id, ps, c))
		d.leaseCoversCall(c, c.Providers[len(c.Providers)-1], b.DefRange)
	}
	return c
}

func (d *decoder) noteLease(block string, s section) {
	if d.leaseAt == nil {
		d.leaseAt = map[string]hcl.Range{}
	}
	d.leaseAt[block] = s.def
	if a := s.attr("lease"); a != nil {
		d.leaseAt[block] = a.Range
	}
}

// LeaseCallFactor is how many per-call deadlines a worker's lease must cover. A worker
// slot holds one row at a time (host/internal/worker.Drain): the plugin call may use its
// whole deadline, and the transaction that records its outcome comes after it. A lease
// that ends first lets another replica claim the row and work it at once — with
// rotating refresh tokens, one of the two refreshes fails and the user is asked to
// reconnect for nothing.
const LeaseCallFactor = 2

// leaseCoversCall refuses a worker lease shorter than LeaseCallFactor times the
// provider's deadline for the call the worker makes: Poll for the poll worker (providers
// with poll = true), Webhook for the retry worker (every provider can queue failures),
// SendCommand for the command dispatcher (read-write providers).
func (d *decoder) leaseCoversCall(c *Config, p Provider, providerAt hcl.Range) {
	check := func(block string, enabled bool, lease, call time.Duration, callName string) {
		if !enabled || call <= 0 || lease >= LeaseCallFactor*call {
			return
		}
		rng, ok := d.leaseAt[block]
		if !ok {
			rng = providerAt
		}
		d.errorf(&rng, "Invalid "+block+" lease",
			"%s.lease (%s) must be at least %d × provider %q's timeouts.%s (%s): one slot works one row per lease, and the lease must outlast the call and the transaction that records it",
			block, lease, LeaseCallFactor, p.ID, callName, call)
	}
	check("poll_worker", c.PollWorker.Enabled && p.Poll, c.PollWorker.Lease, p.Timeouts.Poll, "poll")
	check("retry_worker", c.RetryWorker.Enabled, c.RetryWorker.Lease, p.Timeouts.Webhook, "webhook")
	// Only a read-write provider is ever sent commands.
	check("command_worker", c.CommandWorker.Enabled && p.Access == AccessReadWrite, c.CommandWorker.Lease, p.Timeouts.SendCommand, "send_command")
}

func (d *decoder) backoffOrder(s section, block string, base, limit time.Duration) {
	if base <= limit {
		return
	}
	rng := s.def
	if a := s.attr("backoff_cap"); a != nil {
		rng = a.Range
	}
	d.errorf(&rng, "Invalid "+block+" backoff", "backoff_cap (%s) must not be below backoff_base (%s)", limit, base)
}

// heartbeat refuses replica heartbeat timings that would misreport replicas: a beat
// more often than once a second writes the database for nothing, and a replica silent
// for less than two beats would be shown gone by a single late one.
func (d *decoder) heartbeat(s section, interval, goneAfter time.Duration) {
	if a := s.attr("heartbeat_interval"); a != nil && interval < time.Second {
		d.errorf(a.Expr.Range().Ptr(), "Invalid http heartbeat_interval", "heartbeat_interval (%s) must be at least 1s", interval)
		return
	}
	if goneAfter >= 2*interval {
		return
	}
	rng := s.def
	if a := s.attr("heartbeat_gone_after"); a != nil {
		rng = a.Expr.Range()
	} else if a := s.attr("heartbeat_interval"); a != nil {
		rng = a.Expr.Range()
	}
	d.errorf(&rng, "Invalid http heartbeat_gone_after",
		"heartbeat_gone_after (%s) must be at least 2 × heartbeat_interval (%s), or one late beat shows a live replica gone", goneAfter, interval)
}
