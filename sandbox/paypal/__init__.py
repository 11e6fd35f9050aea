"""PayPal stand-in: OAuth2 tokens, Orders v2, approval page, RSA-signed webhooks and their verification."""
