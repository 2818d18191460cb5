"""`python3 -m unittest` from the plugin's directory runs these."""
try:
    import grpc  # noqa: F401
    import google.protobuf  # noqa: F401
    import cryptography  # noqa: F401
except ImportError as err:  # say which interpreter, and what to install, instead of three bare tracebacks
    import sys

    raise ImportError(f"{err} for {sys.executable}: on Debian, apt-get install python3-grpcio python3-protobuf "
                      "python3-cryptography, and run /usr/bin/python3 -m unittest (the interpreter they are for)") from None
