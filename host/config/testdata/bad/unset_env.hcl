database_url = "sqlite:x.db"

credentials_key = env("POOLHOST_TEST_UNSET_VARIABLE")
