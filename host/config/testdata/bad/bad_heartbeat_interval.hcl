database_url    = "sqlite:x.db"
credentials_key = file("../test.key")

http {
  heartbeat_interval = "500ms"
}
