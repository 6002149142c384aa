"""Adapters of the usage-tracker: the in-memory read model and the JetStream feed."""
