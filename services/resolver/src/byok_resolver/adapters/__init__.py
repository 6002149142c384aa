"""Adapters of the resolver's ports: NATS (key-vault, JetStream) and in-memory fakes."""
