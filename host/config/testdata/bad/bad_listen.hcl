listen          = "8080"
database_url    = "sqlite:x.db"
credentials_key = file("../test.key")
