"""French labels of the back-office (roles, menu), shared by its templates."""

from __future__ import annotations

from services.common.auth import StaffRole

ROLE_LABELS = {StaffRole.referent: "référent·e", StaffRole.admin: "administrateur·rice",
               StaffRole.analyst: "analyste"}

# (path, label, who sees it: None = every staff role)
MENU = [
    ("/", "Accueil", None),
    ("/candidatures", "Candidatures", None),
    ("/cohortes", "Cohortes", None),
    ("/vivier", "Vivier", None),
    ("/binomes", "Binômes", None),
    ("/bilans-en-retard", "Bilans en retard", None),
    ("/evenements", "Évènements", None),
    ("/tableau-de-bord", "Tableau de bord", None),
    ("/personnes", "Personnes", {StaffRole.referent, StaffRole.admin}),
    ("/regions", "Régions", {StaffRole.admin}),
    ("/mes-rappels", "Mes rappels", {StaffRole.referent, StaffRole.admin}),
]


def nav_items(staff) -> list[tuple[str, str]]:
    return [(path, label) for path, label, roles in MENU if roles is None or staff.role in roles]


def role_label(staff) -> str:
    region = staff.account.region
    scope = f"région {region}" if region else "national"
    return f"{ROLE_LABELS.get(staff.role, staff.role.value)} ({scope})"
