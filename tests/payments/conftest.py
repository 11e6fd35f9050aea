"""Fixtures for the payment adapters and engine: the portal's config pointed at a live sandbox."""
import pytest

from portal.config import load_config


@pytest.fixture
def gateway_config(sandbox, tmp_path):
    """The Flask config the portal would build with the sandbox's keys and API bases in its environment."""
    environ = {**sandbox.portal_env(), "SECRET_KEY": "test", "FRONTEND_URL": "https://portal.example",
               "GATEWAY_TIMEOUT_SECONDS": "1"}
    return load_config(instance_path=tmp_path, environ=environ)
