"""Root conftest: every test in the repository gets the real-NATS and real-OpenBao fixtures."""

pytest_plugins = ["byok_shared.testing.fixtures", "byok_shared.testing.openbao"]
