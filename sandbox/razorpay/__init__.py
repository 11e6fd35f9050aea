"""Razorpay stand-in: Payment Links API, hosted link page with signed callback, signed webhooks."""
