database_url    = "sqlite:x.db"
credentials_key = file("../test.key")

plugins { require_signature = true }
