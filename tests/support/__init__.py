"""What tests and benchmarks share, by public name: databases per backend, the sandbox subprocess,
the dashboard's seed data. Fixtures built on them live in the conftest files."""
