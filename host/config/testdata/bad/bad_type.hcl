database_url    = "sqlite:x.db"
credentials_key = file("../test.key")

retry_worker {
  max_attempts = "many"
}
