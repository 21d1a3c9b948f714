"""SMART on FHIR authorization with Authlib: the authorization server of one gateway.

Two grants (``docs/fhir-rest.md``):

- **Backend services** (``client_credentials``): the client is an admitted organization;
  its ``client_id`` is its DID and it authenticates with a ``private_key_jwt`` assertion
  (RFC 7523) signed by its chain identity's Ed25519 key, JWS ``alg`` ``Ed25519``
  (RFC 9864; the key is read from the chain at each token request, so a rotated or
  revoked identity stops at once). Every access of its token is decided by the chain's
  consents for that organization (``access.py``).
- **Standalone patient launch** (``authorization_code`` + PKCE S256, public clients
  registered with the gateway, :class:`SmartApps`): the authorize request becomes a
  pending request the patient's wallet web UI shows on its consent screen; approving it
  is a ``consent/grant`` the patient signs (grantee: this institution; actions
  ``read``; the purpose asked), and the wallet then tells the gateway its consent id
  in a request signed by the patient's key. The token names the patient and that
  consent; every request checks the consent on chain again (:meth:`Authorizer.principal`),
  so a revoke ends the token's effect at the next request.

Tokens are opaque, random and short-lived (:data:`TOKEN_TTL_S`), kept in memory.
"""

from __future__ import annotations

import base64
import contextvars
import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Request, grants
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from joserfc import jwk, jwt
from joserfc.errors import JoseError

from phrchain.fhirapi.errors import INVALID_TOKEN, UNKNOWN_APP
from phrchain.fhirapi.scopes import Scopes, parse_scopes
from phrchain.gateway.service import Vault

TOKEN_TTL_S: Final = 300
CODE_TTL_S: Final = 60
PENDING_TTL_S: Final = 600
ALG: Final = "Ed25519"
_request_base: contextvars.ContextVar[str] = contextvars.ContextVar("fhir_base", default="")


@dataclass(frozen=True, slots=True)
class Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    kind: str                                   # "backend" or "app"
    name: str = ""
    redirect_uris: tuple[str, ...] = ()
    signing_key: bytes = b""

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == ("private_key_jwt" if self.kind == "backend" else "none")

    def check_response_type(self, response_type: str) -> bool:
        return self.kind == "app" and response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        if self.kind == "backend":
            return grant_type == "client_credentials"
        return grant_type in ("authorization_code", "refresh_token")  # refresh.py


@dataclass(frozen=True, slots=True)
class PatientApproval:
    """Whom a patient-launch code or token acts for: the patient (pseudonym DID here)
    and the consent the patient signed for it."""

    patient: str
    consent: str

    def get_user_id(self) -> str:
        return self.patient


@dataclass(frozen=True, slots=True)
class Grant:
    """An access token's meaning."""

    client_id: str
    accessor: str          # whose access the chain decides: the organization, or the patient
    scopes: Scopes
    expires_at: float
    patient: str | None = None   # patient tokens: the patient's DID
    consent: str | None = None   # patient tokens: the consent behind it


class SmartApps:
    """This gateway's SMART settings, ``smart.json`` in the vault directory: the public
    apps registered with it (``{"apps": {client_id: {"name", "redirect_uris"}}}``) and
    the patient wallet web UI that shows the consent screen (``"consent_ui"``: its base
    URL)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "smart.json"
        self._lock = threading.Lock()

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"apps": {}, "consent_ui": None}
        found: dict[str, Any] = json.loads(self.path.read_text())
        return found

    def _write(self, settings: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(settings, indent=1, sort_keys=True))
        tmp.replace(self.path)

    def register(self, client_id: str, name: str, redirect_uris: list[str]) -> None:
        with self._lock:
            settings = self._read()
            settings["apps"][client_id] = {"name": name, "redirect_uris": list(redirect_uris)}
            self._write(settings)

    def set_consent_ui(self, url: str) -> None:
        with self._lock:
            settings = self._read()
            settings["consent_ui"] = url
            self._write(settings)

    @property
    def consent_ui(self) -> str | None:
        found = self._read().get("consent_ui")
        return None if found is None else str(found)

    def get(self, client_id: str) -> Client | None:
        app = self._read()["apps"].get(client_id)
        return None if app is None else Client(client_id, "app", app["name"],
                                                tuple(app["redirect_uris"]))


class OrgAssertion(JWTBearerClientAssertion):  # type: ignore[misc]
    """``private_key_jwt`` by an organization's chain key (Ed25519)."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, seen: dict[str, float]) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self._seen = seen

    def get_audiences(self) -> list[str]:
        return [_request_base.get() + "auth/token"]

    def validate_jti(self, claims: Mapping[str, Any], jti: str) -> bool:
        now = time.time()
        key = f"{claims['sub']}/{jti}"
        for old in [k for k, exp in self._seen.items() if exp < now]:
            del self._seen[old]
        if key in self._seen:
            return False
        self._seen[key] = float(claims.get("exp", now + 300)) + 60
        return True

    def resolve_client_public_key(self, client: Client) -> jwk.OKPKey:
        return jwk.OKPKey.import_key({"kty": "OKP", "crv": "Ed25519",
                                      "x": _b64url(client.signing_key)})

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> Any:
        from authlib.oauth2.rfc6749 import InvalidClientError
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=[ALG])
        except (JoseError, ValueError) as exc:
            raise InvalidClientError(description=f"assertion refused: {type(exc).__name__}"
                                     ) from None
        self.verify_claims(token.claims)
        return token.claims


class BackendGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["private_key_jwt"]


class PatientCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        server: Authorizer = self.server
        server.codes[code] = {
            "client_id": request.client.client_id, "redirect_uri": request.payload.redirect_uri,
            "scope": request.payload.scope, "user": request.user,
            "code_challenge": request.payload.data.get("code_challenge"),
            "code_challenge_method": request.payload.data.get("code_challenge_method"),
            "expires_at": time.time() + CODE_TTL_S}

    def query_authorization_code(self, code: str, client: Client) -> _Code | None:
        found = self.server.codes.get(code)
        if found is None or found["client_id"] != client.client_id \
                or found["expires_at"] < time.time():
            return None
        return _Code(code, found)

    def delete_authorization_code(self, authorization_code: _Code) -> None:
        self.server.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: _Code) -> PatientApproval:
        user: PatientApproval = authorization_code.data["user"]
        return user


@dataclass
class _Code:
    code: str
    data: dict[str, Any] = field(default_factory=dict)

    def get_redirect_uri(self) -> str:
        return str(self.data["redirect_uri"])

    def get_scope(self) -> str:
        return str(self.data["scope"])

    def get_nonce(self) -> None:
        return None

    def get_auth_time(self) -> None:
        return None


class _Challenge(CodeChallenge):  # type: ignore[misc]
    """PKCE as SMART 2.x asks: every authorize request carries an S256 challenge."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        from authlib.oauth2.rfc6749 import InvalidRequestError

        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE is required: code_challenge with "
                                      "code_challenge_method S256")
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: _Code) -> Any:
        return authorization_code.data["code_challenge"]

    def get_authorization_code_challenge_method(self, authorization_code: _Code) -> Any:
        return authorization_code.data["code_challenge_method"]


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class FormRequest(OAuth2Request):  # type: ignore[misc]
    """An OAuth request from FastAPI: its URL, headers and (already read) form."""

    def __init__(self, method: str, uri: str, headers: Mapping[str, str],
                 form: Mapping[str, str], args: Mapping[str, str]) -> None:
        super().__init__(method, uri, headers=dict(headers))
        self._form, self._args = dict(form), dict(args)
        self.payload = BasicOAuth2Payload({**self._args, **self._form})

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class Authorizer(AuthorizationServer):  # type: ignore[misc]
    """The gateway's SMART authorization server and token store."""

    def __init__(self, vault: Vault, apps: SmartApps) -> None:
        super().__init__()
        self.vault, self.apps = vault, apps
        self.tokens: dict[str, Grant] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.register_client_auth_method("private_key_jwt", OrgAssertion({}))
        self.register_grant(BackendGrant)
        self.register_grant(PatientCodeGrant, [_Challenge(required=True)])
        self.register_token_generator("default", self._generate)
        from phrchain.fhirapi.refresh import PatientRefreshGrant, RefreshStore
        self.refresh = RefreshStore(apps.path.parent)  # the vault directory
        self.register_grant(PatientRefreshGrant)

    # -- Authlib's integration points --------------------------------------------------
    def query_client(self, client_id: str) -> Client | None:
        if client_id.startswith("did:"):
            identity = self.vault.query("identity/did", {"did": client_id})
            if identity is None or identity["status"] != "active" \
                    or identity["kind"] != "organization":
                return None
            return Client(client_id, "backend", signing_key=bytes.fromhex(
                identity["signing_key"]))
        return self.apps.get(client_id)

    def _generate(self, grant_type: str, client: Client, user: Any = None,
                  scope: str | None = None, expires_in: int | None = None,
                  include_refresh_token: bool = True) -> dict[str, Any]:
        del grant_type, expires_in
        from phrchain.fhirapi.index import patient_id
        from phrchain.fhirapi.refresh import new_token, wants_refresh

        token = {"token_type": "Bearer", "access_token": secrets.token_urlsafe(32),
                 "expires_in": TOKEN_TTL_S, "scope": scope or ""}
        if isinstance(user, PatientApproval):
            token["patient"] = patient_id(user.patient)
            if include_refresh_token and wants_refresh(scope):
                token["refresh_token"] = new_token()
        return token

    def save_token(self, token: Mapping[str, Any], request: OAuth2Request) -> None:
        scopes = parse_scopes(str(token.get("scope") or ""))
        user = request.user
        grant = Grant(request.client.client_id,
                      user.patient if isinstance(user, PatientApproval)
                      else request.client.client_id,
                      scopes, time.monotonic() + TOKEN_TTL_S,
                      getattr(user, "patient", None), getattr(user, "consent", None))
        with self.lock:
            now = time.monotonic()
            for old in [t for t, g in self.tokens.items() if g.expires_at < now]:
                del self.tokens[old]
            self.tokens[token["access_token"]] = grant
        if "refresh_token" in token and isinstance(user, PatientApproval):
            consent = self.vault.query("consent/get", {"consent": user.consent})
            self.refresh.keep(str(token["refresh_token"]),
                              getattr(request, "refresh_family", None),
                              request.client.client_id, user, str(token.get("scope") or ""),
                              int(consent["period"]["end_ms"]) if consent else 0)

    def validate_requested_scope(self, scope: str | None) -> None:
        from authlib.oauth2.rfc6749 import InvalidScopeError

        from phrchain.core.errors import CodedError
        try:
            parse_scopes(scope or "")
        except CodedError as exc:
            raise InvalidScopeError(description=exc.log) from None

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> tuple[int, Any,
                                                                               list[Any]]:
        return status, body, list(headers)

    # -- tokens at the resource server --------------------------------------------------
    def grant_of(self, authorization: str | None) -> Grant:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise INVALID_TOKEN("send Authorization: Bearer <token>")
        with self.lock:
            found = self.tokens.get(authorization[7:].strip())
        if found is None or found.expires_at < time.monotonic():
            raise INVALID_TOKEN("unknown or expired token")
        return found

    def app(self, client_id: str) -> Client:
        found = self.apps.get(client_id)
        if found is None:
            raise UNKNOWN_APP(client_id)
        return found


def set_base(base: str) -> contextvars.Token[str]:
    return _request_base.set(base)
