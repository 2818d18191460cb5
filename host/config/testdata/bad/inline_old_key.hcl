database_url    = "sqlite:x.db"
credentials_key = file("../test.key")
credentials_old_keys = [
  file("../old.key"),
  "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=",
]
