"""Stripe Checkout Sessions adapter: `translate` (pure) and `client` (I/O through stripe-python)."""
from .client import StripeGateway

__all__ = ["StripeGateway"]
