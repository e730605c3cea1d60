"""Départements (INSEE codes) and the regions (ISO 3166-2:FR) they belong to."""

from __future__ import annotations

REGIONS: dict[str, str] = {
    "ARA": "Auvergne-Rhône-Alpes",
    "BFC": "Bourgogne-Franche-Comté",
    "BRE": "Bretagne",
    "CVL": "Centre-Val de Loire",
    "COR": "Corse",
    "GES": "Grand Est",
    "HDF": "Hauts-de-France",
    "IDF": "Île-de-France",
    "NOR": "Normandie",
    "NAQ": "Nouvelle-Aquitaine",
    "OCC": "Occitanie",
    "PDL": "Pays de la Loire",
    "PAC": "Provence-Alpes-Côte d'Azur",
    "GUA": "Guadeloupe",
    "MTQ": "Martinique",
    "GUF": "Guyane",
    "LRE": "La Réunion",
    "MAY": "Mayotte",
}

_DEPARTEMENTS_BY_REGION: dict[str, tuple[str, ...]] = {
    "ARA": ("01", "03", "07", "15", "26", "38", "42", "43", "63", "69", "73", "74"),
    "BFC": ("21", "25", "39", "58", "70", "71", "89", "90"),
    "BRE": ("22", "29", "35", "56"),
    "CVL": ("18", "28", "36", "37", "41", "45"),
    "COR": ("2A", "2B"),
    "GES": ("08", "10", "51", "52", "54", "55", "57", "67", "68", "88"),
    "HDF": ("02", "59", "60", "62", "80"),
    "IDF": ("75", "77", "78", "91", "92", "93", "94", "95"),
    "NOR": ("14", "27", "50", "61", "76"),
    "NAQ": ("16", "17", "19", "23", "24", "33", "40", "47", "64", "79", "86", "87"),
    "OCC": ("09", "11", "12", "30", "31", "32", "34", "46", "48", "65", "66", "81", "82"),
    "PDL": ("44", "49", "53", "72", "85"),
    "PAC": ("04", "05", "06", "13", "83", "84"),
    "GUA": ("971",),
    "MTQ": ("972",),
    "GUF": ("973",),
    "LRE": ("974",),
    "MAY": ("976",),
}

REGION_OF_DEPARTEMENT: dict[str, str] = {
    dep: region for region, deps in _DEPARTEMENTS_BY_REGION.items() for dep in deps
}


def departements_of(region: str) -> tuple[str, ...]:
    return _DEPARTEMENTS_BY_REGION[region]


def departement_of_postcode(postcode: str) -> str | None:
    """The département of a French postcode (Corsica and overseas included), None if invalid."""
    if len(postcode) != 5 or not postcode.isdigit():
        return None
    if postcode.startswith("97"):
        dep = postcode[:3]
    elif postcode.startswith("20"):  # Corsica: 200xx-201xx is 2A, 202xx-206xx is 2B
        dep = "2A" if int(postcode[:3]) < 202 else "2B"
    else:
        dep = postcode[:2]
    return dep if dep in REGION_OF_DEPARTEMENT else None
