database_url    = "sqlite:x.db"
credentials_key = file("../test.key")

retry_worker {
  backoff_base = "1h"
  backoff_cap  = "1m"
}
