database_url    = "sqlite:x.db"
credentials_key = file("../test.key")

provider "generic" {
  webhooks = true
  secrets = {
    webhook_secret = "hunter2"
  }
}
