database_url    = "sqlite:x.db"
credentials_key = file("../short.key")
