"""validator adapters: httpx providers, the key-vault hop, JetStream reads, fakes."""
