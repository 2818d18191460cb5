"""The template's Acme Pool Cloud provider as a poolhost plugin in Python.

goplugin, hclog, errors and wire are the part every Python plugin needs (go-plugin's
start-up protocol, logs, error encoding, the generated protos); standardwebhooks and
acme are this provider's own.
"""
