"""The operator control channel: wire messages, the command registry, the ZeroMQ server and client."""
