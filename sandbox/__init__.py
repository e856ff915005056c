"""A local, Razorpay-compatible stand-in: generated data, the /v1 API, faults, webhooks, a manifest.

Used by tests, benchmarks and the demo only; production code never imports it.
"""
