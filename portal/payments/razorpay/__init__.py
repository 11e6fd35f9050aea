"""Razorpay Payment Links adapter (official `razorpay` SDK 2.0.1)."""
from .client import RazorpayGateway

__all__ = ["RazorpayGateway"]
