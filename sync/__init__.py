"""Pulling Razorpay data into the database: declared entities, one paging loop, checkpoints, the CLI."""
