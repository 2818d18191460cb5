database_url    = "sqlite:x.db"
credentials_key = file("../test.key")

plugins {
  trusted_keys = ["ed25519:AAAA"]
}
