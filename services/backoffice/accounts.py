"""Staff accounts' rules, pure: who may be created, passwords, the sign-in throttle.

The repository (:mod:`services.backoffice.repository`) stores what these functions decide.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email

from services.common.auth import REGION_PATTERN, SUBJECT_PATTERN, STAFF_ROLES, StaffRole

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256  # argon2 takes any length; a bound keeps hashing cheap for attackers
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters

# A hash to verify against when the account does not exist: the answer takes as long, so a
# wrong address cannot be told from a wrong password by timing.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A refused account or password; ``field`` and the French ``message`` go to the form."""

    def __init__(self, code: str, field: str, message: str) -> None:
        super().__init__(message)
        self.code, self.field, self.message = code, field, message


@dataclass(frozen=True)
class Account:
    account_id: UUID
    email: str
    display_name: str
    subject: str
    role: StaffRole
    region: str | None
    active: bool  # has a password and is not disabled

    @property
    def national(self) -> bool:
        return self.region is None


def normalise_email(value: str) -> str:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise AccountError("invalid_email", "email", "Cette adresse e-mail n'est pas valide "
                           "(exemple : prenom.nom@cress-idf.fr).") from None


def subject_from_email(email: str) -> str:
    """A readable, stable token subject: the address's local part, ASCII, plus a short hash
    of the whole address so that two ``marie@`` of different domains differ."""
    local = unicodedata.normalize("NFKD", email.split("@", 1)[0]).encode("ascii", "ignore")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", local.decode()).strip("-.") or "staff"
    digest = hashlib.sha256(email.encode()).hexdigest()[:6]
    return f"{slug[:48]}-{digest}"


def check_identity(role: str, region: str | None, subject: str) -> tuple[StaffRole, str | None]:
    try:
        staff_role = StaffRole(role)
    except ValueError:
        staff_role = None
    if staff_role not in STAFF_ROLES:
        raise AccountError("invalid_role", "role", "Rôle inconnu : referent, admin ou analyst.")
    region = region.strip().upper() if region else None
    if region is not None and not REGION_PATTERN.match(region):
        raise AccountError("invalid_region", "region",
                           "Code de région invalide : trois lettres, par exemple IDF ou BRE.")
    if staff_role is StaffRole.referent and region is None:
        raise AccountError("region_required", "region", "Un·e référent·e appartient à une "
                           "région : précisez --region (par exemple IDF).")
    if not SUBJECT_PATTERN.match(subject):
        raise AccountError("invalid_subject", "subject", "Identifiant invalide : lettres, "
                           "chiffres, « . », « _ », « - » ou « : », 64 caractères au plus.")
    return staff_role, region


def check_new_password(password: str, confirmation: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError("password_too_short", "password", f"Le mot de passe doit compter "
                           f"au moins {MIN_PASSWORD_LENGTH} caractères.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError("password_too_long", "password", f"Le mot de passe ne peut dépasser "
                           f"{MAX_PASSWORD_LENGTH} caractères.")
    if "\x00" in password:
        raise AccountError("invalid_password", "password",
                           "Le mot de passe contient un caractère interdit.")
    if password != confirmation:
        raise AccountError("password_mismatch", "password_confirmation",
                           "Les deux mots de passe ne sont pas identiques.")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(stored_hash: str | None, password: str) -> bool:
    """Constant work whether or not the account has a password."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_secret() -> tuple[str, str]:
    """A random token (for a cookie or a link) and the digest we store instead of it."""
    token = secrets.token_urlsafe(32)
    return token, digest(token)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- the sign-in throttle ------------------------------------------------------------------

CLIENT_FAILURE_FACTOR = 4  # one address (a shared office) may fail more than one account


@dataclass(frozen=True)
class Throttle:
    max_failures: int
    window: timedelta

    def keys(self, email: str, client: str) -> tuple[str, str]:
        return f"email:{email.strip().lower()}", f"client:{client}"

    def locked_until(self, failures_by_key: dict[str, list[datetime]], email_key: str,
                     client_key: str) -> datetime | None:
        """When sign-ins for this address (or from this client) are allowed again, or None
        if they are now. ``failures_by_key`` holds the failures within the window."""
        limits = {email_key: self.max_failures,
                  client_key: self.max_failures * CLIENT_FAILURE_FACTOR}
        until = None
        for key, limit in limits.items():
            failures = sorted(failures_by_key.get(key, []))
            if len(failures) >= limit:
                # Allowed again once the oldest failure that keeps it at the limit has aged out.
                candidate = failures[-limit] + self.window
                until = candidate if until is None else max(until, candidate)
        return until
