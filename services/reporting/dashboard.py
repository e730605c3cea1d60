"""The staff dashboard: one French HTML page with inline SVG charts (no script, no CDN):
the funnel, the progress toward 500 mentees by 2028, and the status of the reviews.

The staff token comes in the ``Authorization`` header only, never in the address (where it
would stay in histories and logs): browsers reach the page through the back-office, which
adds it. Same rules as the reports: a regional token sees its region.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from events.vocabulary import EarlyEndingReason
from events.vocabulary import label as french_label
from services.reporting import queries
from services.reporting.api import AsOf, Reader, Region, day_of, scope, view_for

router = APIRouter(tags=["tableau de bord"])


COLOURS = {"done": "#2e7d32", "scheduled": "#1565c0", "planned": "#90a4ae", "due": "#f9a825",
           "overdue": "#c62828"}
REVIEW_LABELS = {"done": "fait", "scheduled": "programmé", "planned": "à venir",
                 "due": "à faire", "overdue": "en retard"}
# Routing, interviews and admission count mentees and mentors together (the funnel's rows).
STAGES = [("applications_mentees", "Candidatures de jeunes"),
          ("routed", "Orientées (jeunes et mentors)"),
          ("interviewed", "Entretiens (jeunes et mentors)"),
          ("admitted", "Admis·es (jeunes et mentors)"),
          ("paired", "Mis·es en binôme"), ("active", "Binômes actifs"),
          ("completed", "Parcours terminés")]
SIDE = [("applications_mentors", "Candidatures de mentors"), ("rejected", "Refusées"),
        ("waiting_list", "Liste d'attente (non desservie)"),
        ("rerouted_in", "Réorientations reçues"),
        ("rerouted_out", "Réorientations vers ailleurs"),
        ("withdrawn", "Retraits"), ("waiting", "En attente de binôme"),
        ("proposed", "Propositions en attente"),
        ("ended_early", "Arrêts anticipés"), ("left", "Sorties du vivier")]


def _reason_label(code: str) -> str:
    try:
        return french_label(EarlyEndingReason(code))
    except ValueError:
        return code


def _bars(items: list[tuple[str, int]], colour: str, title: str) -> str:
    width, label_w, bar_h, gap = 700, 270, 26, 8
    top = max([v for _, v in items] + [1])
    height = len(items) * (bar_h + gap) + 10
    parts = [f'<svg role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">']
    for i, (label, value) in enumerate(items):
        y = 5 + i * (bar_h + gap)
        w = max(2, int((width - label_w - 60) * value / top)) if value else 0
        parts.append(f'<text x="{label_w - 8}" y="{y + 18}" text-anchor="end" '
                     f'font-size="14">{escape(label)}</text>')
        parts.append(f'<rect class="barre" x="{label_w}" y="{y}" width="{w}" height="{bar_h}" '
                     f'fill="{colour}" rx="3"/>')
        parts.append(f'<text x="{label_w + w + 6}" y="{y + 18}" font-size="14" '
                     f'font-weight="bold">{value}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _progress(report: queries.ProgressReport) -> str:
    width, height, pad = 640, 260, 40
    months = list(report.by_month)
    cumulative, total = [], 0
    for month in months:
        total += report.by_month[month]
        cumulative.append(total)
    top = max(report.goal, int(report.projected_by_deadline), 1)
    span = max(len(months) - 1, 1)

    def y(value: float) -> float:
        return height - pad - (height - 2 * pad) * value / top

    points = " ".join(f"{pad + (width - 2 * pad) * i / span:.0f},{y(v):.0f}"
                      for i, v in enumerate(cumulative))
    goal_y = y(report.goal)
    parts = [f'<svg role="img" aria-label="Progression vers l\'objectif" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
             f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
             'stroke="#555"/>',
             f'<line x1="{pad}" y1="{goal_y:.0f}" x2="{width - pad}" y2="{goal_y:.0f}" '
             'stroke="#c62828" stroke-dasharray="6 4"/>',
             f'<text x="{width - pad}" y="{goal_y - 6:.0f}" text-anchor="end" font-size="13" '
             f'fill="#c62828">objectif : {report.goal} jeunes fin 2028</text>',
             f'<line x1="{pad}" y1="{y(report.projected_by_deadline):.0f}" x2="{width - pad}" '
             f'y2="{y(report.projected_by_deadline):.0f}" stroke="#1565c0" stroke-dasharray="2 4"/>',
             f'<text x="{width - pad}" y="{y(report.projected_by_deadline) + 16:.0f}" '
             'text-anchor="end" font-size="13" fill="#1565c0">projection au rythme actuel : '
             f'{report.projected_by_deadline:.0f}</text>']
    if cumulative:
        parts.append(f'<polyline class="courbe" points="{points}" fill="none" stroke="#2e7d32" '
                     'stroke-width="4"/>')
        parts.append(f'<text x="{pad}" y="{height - 12}" font-size="12">{months[0]}</text>')
        parts.append(f'<text x="{width - pad}" y="{height - 12}" text-anchor="end" '
                     f'font-size="12">{months[-1]}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _reviews(report: queries.JourneyReport) -> str:
    width, label_w, bar_h = 640, 150, 30
    parts = [f'<svg role="img" aria-label="État des bilans" width="{width}" height="120" '
             f'viewBox="0 0 {width} 120" xmlns="http://www.w3.org/2000/svg">']
    for i, (kind, label) in enumerate((("intermediate", "Bilan intermédiaire"),
                                       ("final", "Bilan final"))):
        counts = report.reviews.get(kind, {})
        total = sum(counts.values()) or 1
        y, x = 8 + i * (bar_h + 12), float(label_w)
        parts.append(f'<text x="{label_w - 8}" y="{y + 20}" text-anchor="end" '
                     f'font-size="14">{label}</text>')
        for status in ("done", "scheduled", "planned", "due", "overdue"):
            value = counts.get(status, 0)
            if not value:
                continue
            w = (width - label_w - 10) * value / total
            parts.append(f'<rect class="barre" x="{x:.0f}" y="{y}" width="{w:.0f}" '
                         f'height="{bar_h}" fill="{COLOURS[status]}"><title>'
                         f'{REVIEW_LABELS[status]} : {value}</title></rect>')
            if w > 24:
                parts.append(f'<text x="{x + 6:.0f}" y="{y + 20}" font-size="13" '
                             f'fill="#fff">{value}</text>')
            x += w
    legend_x = label_w
    for status in ("done", "scheduled", "planned", "due", "overdue"):
        parts.append(f'<rect x="{legend_x}" y="96" width="12" height="12" '
                     f'fill="{COLOURS[status]}"/><text x="{legend_x + 16}" y="107" '
                     f'font-size="12">{REVIEW_LABELS[status]}</text>')
        legend_x += 95
    parts.append("</svg>")
    return "".join(parts)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}".replace("%", " %")


def render(*, funnel: queries.CohortReport, progress: queries.ProgressReport,
           journeys: queries.JourneyReport, outcomes: queries.OutcomeReport,
           networking: queries.NetworkingReport, scope_label: str,
           as_of: datetime | None) -> str:
    """The page (pure: reports in, HTML out)."""
    totals = funnel.totals
    ends = sum(r.outcomes_end for r in outcomes.rows)
    positive = sum(r.positive_end for r in outcomes.rows)
    satisfaction = [r.satisfaction_end for r in outcomes.rows if r.satisfaction_end]
    overdue = sum(v.get("overdue", 0) for v in journeys.reviews.values())
    when = f"au {as_of:%d/%m/%Y à %H:%M}" if as_of else "en temps réel"
    tiles = [
        ("Jeunes en binôme", str(progress.mentees_paired), f"objectif {progress.goal}"),
        ("Projection fin 2028", f"{progress.projected_by_deadline:.0f}",
         "dans les temps" if progress.on_track else "en dessous de l'objectif"),
        ("Binômes actifs", str(totals["active"]), f"{totals['waiting']} jeune(s) en attente"),
        ("Bilans en retard", str(overdue), "à relancer"),
        ("Sorties positives", _percent(positive / ends if ends else None),
         f"sur {ends} fin(s) de parcours"),
        ("Satisfaction", f"{sum(satisfaction) / len(satisfaction):.1f} / 5" if satisfaction
         else "—", "en fin de programme"),
        ("Réseautage", f"{networking.attended} présent·es",
         f"sur {networking.registered} inscrit·es"),
    ]
    tile_html = "".join(f'<div class="tuile"><div class="titre">{escape(t)}</div>'
                        f'<div class="valeur">{escape(v)}</div>'
                        f'<div class="note">{escape(n)}</div></div>' for t, v, n in tiles)
    reasons = "".join(f"<li>{escape(_reason_label(k))} : {v}</li>" for k, v in
                      sorted(funnel.early_ending_reasons.items())) or "<li>aucun</li>"
    return f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8">
<title>Succ'ess — tableau de bord</title>
<style>
body {{ font-family: "DejaVu Sans", Arial, sans-serif; margin: 24px; color: #1b1b1b;
        background: #fafafa; }}
h1 {{ color: #6a1b9a; margin: 0 0 4px; }} h2 {{ margin-top: 28px; color: #333; }}
.sous-titre {{ color: #555; margin-bottom: 16px; }}
.tuiles {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.tuile {{ background: #fff; border-left: 6px solid #6a1b9a; padding: 10px 14px;
          min-width: 150px; box-shadow: 0 1px 3px rgba(0,0,0,.15); }}
.titre {{ font-size: 13px; color: #555; }} .valeur {{ font-size: 26px; font-weight: bold; }}
.note {{ font-size: 12px; color: #777; }}
.grille {{ display: flex; flex-wrap: wrap; gap: 24px; }}
section {{ background: #fff; padding: 8px 16px 16px; box-shadow: 0 1px 3px rgba(0,0,0,.15); }}
</style></head>
<body>
<h1>Succ'ess — tableau de bord</h1>
<div class="sous-titre">Périmètre : {escape(scope_label)} — données {when}.</div>
<div class="tuiles">{tile_html}</div>
<div class="grille">
<section id="entonnoir"><h2>Entonnoir des candidatures</h2>
{_bars([(label, totals[key]) for key, label in STAGES], "#6a1b9a", "Entonnoir")}
{_bars([(label, totals[key]) for key, label in SIDE], "#8e8e8e", "Autres étapes")}
<p>Motifs d'arrêt anticipé :</p><ul>{reasons}</ul></section>
<section id="objectif"><h2>Progression vers {progress.goal} jeunes accompagnés en 2028</h2>
{_progress(progress)}
<p>Rythme actuel : {progress.monthly_pace:.1f} jeune(s) par mois ; {progress.months_left} mois
restants.</p></section>
<section id="bilans"><h2>État des bilans des binômes</h2>
{_reviews(journeys)}
<p>Délai moyen entre candidature et binôme :
{"—" if journeys.average_days_to_pair is None else f"{journeys.average_days_to_pair:.0f} jours"}.</p>
</section>
</div>
</body></html>"""


@router.get("/dashboard", response_class=HTMLResponse,
            summary="Tableau de bord du personnel (HTML, graphiques SVG)")
async def dashboard(request: Request, principal: Reader, region: Region = None,
                    as_of: AsOf = None) -> HTMLResponse:
    regions = scope(principal, region)
    view, instant = await view_for(request, as_of, ["funnel", "progress", "journeys",
                                                    "outcomes", "networking"])
    today = day_of(request, instant)
    shown = region or (principal.region if principal.region else None)
    html = render(
        funnel=queries.cohort_report(view, regions=regions, region=region, as_of=instant),
        progress=queries.progress_report(view, today=today, regions=regions, region=region),
        journeys=queries.journey_report(view, regions=regions, region=region),
        outcomes=queries.outcome_report(view, regions=regions, region=region),
        networking=queries.networking_report(view, regions=regions, region=region),
        scope_label=f"région {shown}" if shown else "toutes les régions", as_of=instant)
    return HTMLResponse(html)
