database_url    = "sqlite:x.db"
credentials_key = file("../test.key")

plugins {
  health_interval = "10 seconds"
}
