"""Stripe stand-in: Checkout Sessions, Events, hosted Checkout page, signed webhooks."""
