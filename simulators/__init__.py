"""Simulated monitors and session replay: clients of the ingest protocol, like a real device."""
