credentials_key = file("../test.key")
listen          = "127.0.0.1:8080"
