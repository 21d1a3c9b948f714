"""SMART App Launch 2.x scopes as this endpoint grants them.

``patient/<Type|*>.<perms>`` (a patient app: the patient's own records, under the
consent the patient signed for it), ``system/<Type|*>.<perms>`` (backend services:
whatever the chain's consents permit the client organization), SMART 1 spellings
(``.read``, ``.write``, ``.*``) taken as their 2.x equivalents, and one scope of this
endpoint's own, ``purpose/<PurposeOfUse>`` (HL7 v3 code, ``consent.messages.PURPOSES``):
the purpose every access of the token is decided for (default ``TREAT`` for system,
``PATRQT`` for patient tokens). ``launch/patient``, ``openid``, ``fhirUser``,
``offline_access`` and ``profile`` are accepted and change nothing. Writes (``c``,
``u``) are system scopes of the institution itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from phrchain.fhir import RESOURCE_TYPES
from phrchain.fhirapi.errors import BAD_AUTHORIZATION
from phrchain.modules.consent.messages import PURPOSES

INERT: Final = frozenset({"launch/patient", "launch", "openid", "fhirUser", "profile",
                          "offline_access", "online_access"})
_RESOURCE: Final = re.compile(r"(patient|system|user)/(\*|[A-Z][A-Za-z]+)\.([a-z*]+)")
_V1: Final = {"read": "rs", "write": "cud", "*": "cruds"}
DEFAULT_PURPOSE: Final = {"patient": "PATRQT", "system": "TREAT"}


@dataclass(frozen=True, slots=True)
class Scopes:
    context: str                      # "patient" or "system"
    read: frozenset[str]              # resource types readable ("*": all)
    write: frozenset[str]
    purpose: str
    text: str

    def may_read(self, resource_type: str) -> bool:
        return "*" in self.read or resource_type in self.read

    def may_write(self, resource_type: str) -> bool:
        return "*" in self.write or resource_type in self.write

    @property
    def all_types(self) -> bool:
        return "*" in self.read


def parse_scopes(text: str) -> Scopes:
    contexts, read, write, purposes = set(), set(), set(), set()
    for scope in text.split():
        if scope in INERT:
            continue
        if scope.startswith("purpose/"):
            code = scope.removeprefix("purpose/")
            if code not in PURPOSES:
                raise BAD_AUTHORIZATION(f"scope {scope}: not a PurposeOfUse code")
            purposes.add(code)
            continue
        m = _RESOURCE.fullmatch(scope)
        if m is None:
            raise BAD_AUTHORIZATION(f"scope {scope} is not granted here")
        context, kind, perms = m.groups()
        perms = _V1.get(perms, perms)
        if context == "user" or not set(perms) <= set("cruds") \
                or (kind != "*" and kind not in RESOURCE_TYPES):
            raise BAD_AUTHORIZATION(f"scope {scope} is not granted here")
        contexts.add(context)
        if "r" in perms or "s" in perms:
            read.add(kind)
        if "c" in perms or "u" in perms:
            write.add(kind)
    if len(contexts) != 1 or len(purposes) > 1:
        raise BAD_AUTHORIZATION("a token is for patient or for system scopes, with at most "
                                "one purpose/ scope")
    context = contexts.pop()
    if context == "patient" and write:
        raise BAD_AUTHORIZATION("patient apps read only; writes are the institution's")
    purpose = purposes.pop() if purposes else DEFAULT_PURPOSE[context]
    return Scopes(context, frozenset(read), frozenset(write), purpose, text)
