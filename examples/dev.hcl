# poolhost development configuration: what `make run` uses.
#
# Relative plugin_dir and database_url paths are relative to the working directory (make
# runs from the repository root); file() paths are relative to this file. `make run`
# generates the two files under data/ on first use. Secrets only ever come from env() or
# file(): an inline secret is a configuration error.

listen       = "127.0.0.1:8080"
database_url = "sqlite:data/poolhost.db"
plugin_dir   = "bin/plugins"
public_url   = "http://127.0.0.1:8080"
log_level    = "info"
log_format   = "text"
auto_migrate = true

# `make dev-secrets` (run by `make run`) creates, once:
#   data/dev-credentials.key          32 random bytes, base64
#   data/dev-webhook.secret           whsec_<base64>, Standard Webhooks (generic)
#   data/dev-ttn.secret               shared header secret (ttn)
#   data/dev-template-client.secret   OAuth client secret (template)
credentials_key = file("../data/dev-credentials.key")

http {
  max_body_bytes = 1048576
}

retry_worker {
  enabled      = true
  interval     = "5s"
  max_attempts = 8
}

poll_worker {
  enabled  = true
  interval = "30s"
}

plugins {
  start_timeout   = "10s"
  health_interval = "2s"
  max_restarts    = 5
  restart_window  = "5m"
  # A checkout made under umask 002 (Debian's and Ubuntu's default for users, each in a
  # group of their own) has group-writable directories and binaries, which plugin_dir's
  # checks would refuse: trust that group here. World-writable is still refused, and
  # production.hcl leaves this off.
  allow_group_writable = true
}

# The example provider a third-party team copies.
provider "template" {
  enabled  = true
  stage    = "ga"
  webhooks = true
  poll     = true
  settings = {
    base_url  = "https://api.acme-pool.example"
    client_id = "poolhost-dev"
  }
  secrets = {
    client_secret  = file("../data/dev-template-client.secret")
    webhook_secret = file("../data/dev-webhook.secret")
  }
}

# Any device that can sign a webhook (Standard Webhooks by default).
provider "generic" {
  enabled  = true
  stage    = "ga"
  webhooks = true
  secrets = {
    webhook_secret = file("../data/dev-webhook.secret")
  }
}

# The Things Stack webhooks (shared secret in the Authorization header).
provider "ttn" {
  enabled  = true
  stage    = "ga"
  webhooks = true
  secrets = {
    webhook_secret = file("../data/dev-ttn.secret")
  }
}

# Ondilo ICO: OAuth2 + polling, in pilot.
provider "ondilo" {
  enabled       = true
  stage         = "pilot"
  pilot_users   = ["admin@example.com"]
  poll          = true
  poll_interval = "15m"
}

# iopool: API key + polling.
provider "iopool" {
  enabled       = true
  stage         = "ga"
  poll          = true
  poll_interval = "15m"
}
