"""phrchain: patient-controlled medical records on a permissioned blockchain."""

__version__ = "0.1.0"
