"""The vault gateway: signed requests, decisions, journal, HTTP (docs/records.md)."""
