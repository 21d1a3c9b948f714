"""Consent module (M4, M5): patient-signed consents and the access decision.

Other modules use consents only through the functions re-exported here: the access
decision, reading a patient's consents, and :func:`store_consent` for the messages that
grant a consent as a side effect (exchange approving a pull request, claims filing a
claim). They never import the keeper, handlers or queries.
"""

from __future__ import annotations

from phrchain.core.module import StaticModule
from phrchain.modules.consent.decide import Decision, decide, grantee_matches
from phrchain.modules.consent.grants import require_patient, store_consent
from phrchain.modules.consent.handlers import HANDLERS
from phrchain.modules.consent.keeper import Consent
from phrchain.modules.consent.keeper import get as get_consent
from phrchain.modules.consent.keeper import of_patient as consents_of_patient
from phrchain.modules.consent.queries import QUERIES

__all__ = [
    "Consent", "ConsentModule", "Decision", "consents_of_patient", "decide", "get_consent",
    "grantee_matches", "require_patient", "store_consent",
]


class ConsentModule(StaticModule):
    name = "consent"
    HANDLERS = HANDLERS
    QUERIES = QUERIES
