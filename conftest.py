"""Root conftest: every test in the repository gets the real-NATS fixtures."""

pytest_plugins = ["byok_shared.testing.fixtures"]
