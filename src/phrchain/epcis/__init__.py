"""EPCIS 2.0 / CBV 2.0 and GS1 barcodes at the edge (off chain), for the supply module.

- :mod:`phrchain.epcis.hashid` — the CBV 2.0 event hash id (``ni:///sha-256;…?ver=CBV2.0``)
  of an EPCIS 2.0 JSON/JSON-LD event, our own implementation of the canonicalisation;
- :mod:`phrchain.epcis.events` — the EPCIS event of each supply message, and documents;
- :mod:`phrchain.epcis.barcode` — GS1 element strings as scanners send them, and GS1
  Digital Link URIs.

The chain stores event hash ids and checks only their shape; these compute them."""

from __future__ import annotations

from phrchain.epcis.barcode import BarcodeError, ElementString, parse_element_string
from phrchain.epcis.hashid import EpcisError, event_hash_id, event_hash_ids, prehash

__all__ = ["BarcodeError", "ElementString", "EpcisError", "event_hash_id", "event_hash_ids",
           "parse_element_string", "prehash"]
