"""PayPal (Orders v2 over REST): `translate.py` is pure, `client.py` does the I/O."""
from .client import PayPalGateway

__all__ = ["PayPalGateway"]
