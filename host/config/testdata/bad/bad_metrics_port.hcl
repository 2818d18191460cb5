listen          = "127.0.0.1:8080"
metrics_listen  = "127.0.0.1:70000"
database_url    = "sqlite:x.db"
credentials_key = file("../test.key")
