"""Payment adapter and engine tests; their fixtures (`pay_app`, `gateway_config`) live in tests/conftest.py
because the end-to-end tests use them too."""
