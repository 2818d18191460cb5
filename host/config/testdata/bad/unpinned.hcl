database_url    = "sqlite:x.db"
credentials_key = file("../test.key")

plugins { require_pin = true }

provider "ttn" {
  webhooks = true
}

provider "iopool" {
  enabled = false
}
