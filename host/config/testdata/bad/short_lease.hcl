database_url    = "sqlite:x.db"
credentials_key = file("../test.key")

poll_worker {
  lease = "45s"
}

provider "ondilo" {
  poll = true
  timeouts {
    poll = "30s"
  }
}
