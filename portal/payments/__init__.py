"""The payment engine: gateway adapters, routing, retries, fallback, link reuse (issue 4).

An internal module with no routes: blueprints and the CLI call `engine.generate_link(...)` and friends.
"""
