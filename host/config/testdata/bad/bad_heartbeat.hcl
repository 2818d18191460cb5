database_url    = "sqlite:x.db"
credentials_key = file("../test.key")

# gone after 15s: a default 10s beat late by 5s would show a live replica gone.
http {
  heartbeat_gone_after = "15s"
}
