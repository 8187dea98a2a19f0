"""Service functions: each domain's database work, called by the API, the CLI and the engine."""
