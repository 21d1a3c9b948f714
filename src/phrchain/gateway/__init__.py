"""The vault gateway: one institution's vault service — decisions, journal, HTTP
(docs/records.md). A service built on the SDK (``phrchain.client``), so it sits above
both the SDK and the vault library (``phrchain.vault``); the request signing and upload
framing it shares with the SDK are in the library (``vault/requests.py``,
``vault/wire.py``, codes in ``vault/gateway_errors.py``)."""
