database_url    = "sqlite:x.db"
credentials_key = file("../test.key")

command_worker {
  lease = "20s"
}

provider "ttn" {
  access   = "read-write"
  commands = ["pump.set"]
  timeouts {
    send_command = "15s"
  }
}
