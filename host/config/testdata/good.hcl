# A complete configuration: every block and attribute.
listen       = "0.0.0.0:9090"
database_url = "postgres://poolhost@db/poolhost"
database_read_url     = "postgres://poolhost@db-standby/poolhost"
database_read_max_lag = "15s"
plugin_dir   = "/opt/poolhost/plugins"
public_url   = "https://pool.example.com/"
log_level    = "debug"
log_format   = "json"
auto_migrate = false
metrics_listen = "127.0.0.1:9477"

credentials_key      = file("test.key")
credentials_old_keys = [file("old.key")]

http {
  max_body_bytes      = 2097152
  read_header_timeout = "3s"
  read_timeout        = "20s"
  write_timeout       = "30s" # the default, which the test checks it keeps
  idle_timeout        = "90s"
  shutdown_timeout    = "10s"
  drain_grace         = "2s"
  return_url          = "https://app.example.com/connected"
  trusted_proxies     = ["10.0.0.0/8", "fd00::/8"]
  heartbeat_interval   = "5s"
  heartbeat_gone_after = "20s"
  rate_limit {
    per_token  = 10
    per_client = 2.5
    burst      = 20
    per_webhook_account   = 20  # the defaults, which the test checks
    webhook_account_burst = 600
  }
}

retry_worker {
  enabled      = false
  interval     = "1s"
  batch_size   = 10
  lease        = "30s"
  max_attempts = 4
  backoff_base = "2s"
  backoff_cap  = "1m"
}

poll_worker {
  interval = "10s"
}

command_worker {
  enabled         = true
  interval        = "2s"
  batch_size      = 25
  device_interval = "2s"
  default_expiry  = "5m"
  lease           = "90s"
}

ingest {
  max_future_skew = "2m"
  max_past_age    = "7d"
  delivery_id_retention = "14d"
  webhook_secret_overlap            = "12h"
  max_dead_letters_per_account      = 50
  max_dead_letter_bytes_per_account = 5242880
  max_accounts_per_user             = 20
  max_pools_per_user                = 30
  max_test_sessions_per_pool        = 5000
}

retention {
  readings     = "2y"
  audit        = "400d"
  dead_letters = "90d"
}

plugins {
  start_timeout   = "20s"
  health_interval = "5s"
  health_timeout  = "1s"
  health_failures = 2
  pass_env        = ["HTTPS_PROXY", "NO_PROXY"]
  max_restarts    = 3
  restart_window  = "1m"
  backoff_base    = "100ms"
  backoff_cap     = "5s"
  require_pin          = false
  allow_group_writable = false
  trusted_keys         = []
  require_signature    = false

  max_message_bytes     = 8388608
  max_readings_per_call = 5000
  max_device_id_bytes   = 128
  max_delivery_id_bytes = 200
  max_metric_bytes      = 32
  max_unit_bytes        = 16
  max_raw_payload_bytes = 32768
  max_devices_per_call  = 5000
  max_device_name_bytes = 512
}

provider "ondilo" {
  stage         = "pilot"
  pilot_users   = ["ana@example.com", "42"]
  access        = "read-only"
  poll          = true
  poll_interval = "10m"
  sha256        = "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
  settings = {
    base_url = "https://interop.ondilo.com"
  }
  secrets = {
    client_secret = env("POOLHOST_TEST_CLIENT_SECRET")
  }
  timeouts {
    describe       = "4s"
    configure      = "4s"
    connect        = "10s" # the default, which the test checks
    callback       = "20s"
    discover       = "40s"
    verify_webhook = "1s"
    webhook        = "10s"
    poll           = "45s"
    health         = "3s"
    send_command   = "20s"
  }
}

provider "generic" {
  webhooks = true
  commands = []
  binary   = "custom-generic"
  secrets = {
    webhook_secret = file("webhook.secret")
    prefixed       = "whsec_${env("POOLHOST_TEST_CLIENT_SECRET")}"
  }
}

provider "iopool" {
  enabled = false
  binary  = "/usr/local/bin/iopool-plugin"
}
