database_url    = "sqlite:data/poolhost.db"
credentials_key = env("POOLHOST_TEST_KEY")

provider "template" {}
