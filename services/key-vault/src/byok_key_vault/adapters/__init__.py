"""key-vault adapters: JetStream stores, ciphers, the validator hop, in-memory fakes."""
