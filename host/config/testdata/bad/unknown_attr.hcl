database_url    = "sqlite:x.db"
credentials_key = file("../test.key")

provider "ttn" {
  enabeld = true
}
