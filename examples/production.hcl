# poolhost production configuration: PostgreSQL, several replicas behind a TLS-terminating
# proxy, every plugin binary pinned. Installed as /etc/poolhost/poolhost.hcl by the
# steps in README.md ("Running as a service"); deploy/systemd/poolhost.service runs it.
#
# Secrets never appear here: env() reads the service's environment (systemd's
# EnvironmentFile, /etc/poolhost/poolhost.env), file() reads a file relative to this one
# (/etc/poolhost/secrets/…, mode 0640 root:poolhost). Every replica uses this same file.

# The proxy (nginx, Caddy, a cloud load balancer) terminates TLS and forwards to this
# address; public_url is what users' browsers and the providers reach. Its https scheme
# also makes the operators' console cookie Secure.
listen     = "127.0.0.1:8080"
public_url = "https://poolhost.example.com"

# PostgreSQL: the store for production and for more than one replica.
database_url = env("POOLHOST_DATABASE_URL") # postgres://poolhost:…@db.internal:5432/poolhost?sslmode=verify-full

# Plugin binaries, read-only to the service (deploy/systemd/poolhost.service).
plugin_dir = "/usr/local/lib/poolhost/plugins"

log_level  = "info"
log_format = "json" # one JSON object a line, for the log shipper

# /metrics on its own port for the Prometheus scraper (a private interface); the API
# port then answers 404 there, so the proxy cannot expose it by mistake. Not 9100: that
# is node_exporter's, which usually runs on the same machine.
metrics_listen = "127.0.0.1:9477"

# Migrations are a deploy step (`poolhost migrate up`), run once before the replicas
# are rolled, never by several replicas racing at start.
auto_migrate = false

# 32 random bytes, base64: `head -c 32 /dev/urandom | base64`. The same on every replica.
# While rotating, the previous key stays listed here until `poolhost credentials rewrap`.
credentials_key      = file("secrets/credentials.key")
credentials_old_keys = []

http {
  max_body_bytes      = 1048576
  read_header_timeout = "5s"
  read_timeout        = "15s"
  write_timeout       = "30s"
  idle_timeout        = "2m"
  shutdown_timeout    = "20s" # below TimeoutStopSec in the unit file
  return_url          = "https://app.example.com/integrations/connected"

  # The proxy forwards from here: its X-Forwarded-For is believed (the right-most hop it
  # did not add is the client), anyone else's is ignored. Without it every client is the
  # proxy's address, in audit rows and in the per-client rate limit.
  trusted_proxies = ["127.0.0.1/32"]

  # Requests per second, refilled continuously, up to burst at once; 0 switches one off.
  # per_token: each API token. per_client: each address, for what comes without a valid
  # token (anonymous routes, OAuth callbacks, wrong tokens, console sign-ins). Webhooks
  # are not limited per address; an account-scoped webhook URL has its own bucket
  # (per_webhook_account 20/s, webhook_account_burst 600: 429 past it). /healthz, /readyz
  # and /metrics are never limited, but for a wrong token there.
  rate_limit {
    per_token  = 20
    per_client = 5
    burst      = 50
  }
}

# Several replicas share the queue through FOR UPDATE SKIP LOCKED leases: a larger batch
# each tick keeps a backlog draining without more replicas; the lease outlives the
# slowest plugin call on a batch.
retry_worker {
  enabled      = true
  interval     = "5s"
  batch_size   = 50
  lease        = "2m"
  max_attempts = 10
  backoff_base = "30s"
  backoff_cap  = "1h"
}

poll_worker {
  enabled    = true
  interval   = "15s"
  batch_size = 50
  lease      = "5m"
}

ingest {
  max_future_skew            = "5m"
  max_past_age               = "30d"
  delivery_id_retention      = "30d"
  webhook_secret_overlap     = "24h"    # a rotated account secret stays valid this long
  max_accounts_per_user      = 100      # provider accounts one user may connect, disconnected ones included
  max_pools_per_user         = 100      # pools one user may create
  max_test_sessions_per_pool = 10000    # test sessions members may enter on one pool
}

# How long history is kept; without this block nothing is ever expired. On PostgreSQL a
# month goes whole (its partition is dropped) once all of it is older than the period.
retention {
  readings     = "2y"   # sensor readings and test sessions
  audit        = "400d" # audit events
  dead_letters = "90d"  # dead letters settled (dead or resolved), by their last change
}

plugins {
  start_timeout   = "15s"
  health_interval = "2s" # with health_timeout: how soon a hung plugin is noticed
  health_timeout  = "3s"
  health_failures = 3
  max_restarts    = 5
  restart_window  = "10m"
  backoff_base    = "1s"
  backoff_cap     = "1m"
  pass_env        = ["HTTPS_PROXY", "NO_PROXY"] # an egress proxy, if any; never a secret
  require_pin     = true                        # refuse any enabled provider without a sha256
  # Release keys of the plugins' publishers (poolhost plugins keygen prints one), and
  # refuse to launch a plugin not signed by one of them. The key below is a placeholder
  # whose private half nobody has: put yours (README, "Running as a service").
  trusted_keys      = ["ed25519:4l+cbLNEilPHeB61t64PrZWeGAZgPPr/XuxPrSUeakM="]
  require_signature = true
}

# Pin every binary: `poolhost plugins pin /usr/local/lib/poolhost/plugins/poolhost-provider-<id>`
# (or sha256sum) prints its hash; put it in that provider's sha256 below. The zeros below
# are placeholders that match no binary: until each is replaced, that provider is failed
# with "sha256 mismatch" (and `poolhost plugins check`, run before each deploy, exits 1).
# A binary whose hash differs is refused, and so is one without a signature over its
# hash (require_signature above), so an upgrade of a plugin is: change its pin here,
# `poolhost plugins install` the signed release (binary and .sig, checked against the
# pin), reload.

provider "generic" {
  enabled  = true
  stage    = "ga"
  webhooks = true
  sha256   = "0000000000000000000000000000000000000000000000000000000000000000"
  secrets = {
    webhook_secret = file("secrets/generic-webhook.secret")
  }
}

provider "ttn" {
  enabled  = true
  stage    = "ga"
  webhooks = true
  sha256   = "0000000000000000000000000000000000000000000000000000000000000000"
  secrets = {
    webhook_secret = env("POOLHOST_TTN_WEBHOOK_SECRET")
  }
  timeouts {
    webhook = "5s"
  }
}

provider "ondilo" {
  enabled       = true
  stage         = "pilot"
  pilot_users   = ["ops@example.com"]
  poll          = true
  poll_interval = "15m"
  sha256        = "0000000000000000000000000000000000000000000000000000000000000000"
  settings = {
    client_id = "customer_api"
  }
  timeouts {
    poll = "30s"
  }
}

provider "iopool" {
  enabled       = true
  stage         = "ga"
  poll          = true
  poll_interval = "15m"
  sha256        = "0000000000000000000000000000000000000000000000000000000000000000"
}
