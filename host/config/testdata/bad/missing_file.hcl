database_url    = "sqlite:x.db"
credentials_key = file("../test.key")

provider "generic" {
  secrets = {
    webhook_secret = file("no-such.secret")
  }
}
