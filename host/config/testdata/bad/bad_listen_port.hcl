listen          = "127.0.0.1:99999"
database_url    = "sqlite:x.db"
credentials_key = file("../test.key")
