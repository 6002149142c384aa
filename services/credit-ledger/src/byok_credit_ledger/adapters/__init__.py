"""Adapters of the ledger's ports: JetStream (real) and memory (the fake for tests)."""
