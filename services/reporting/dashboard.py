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
    """The cumulative count month by month on an axis running to December 2028, the goal, and
    the projection at the current pace from the last month known to the deadline."""
    width, height, left, right, top_pad, bottom = 680, 280, 56, 24, 20, 44
    months = report.months
    known = [(i, m.cumulative) for i, m in enumerate(months) if m.cumulative is not None]
    top = max(report.goal, int(report.projected_by_deadline), 1)
    top = -(-top // 100) * 100  # rounded up to a hundred: round ticks
    span = max(len(months) - 1, 1)

    def x(index: float) -> float:
        return left + (width - left - right) * index / span

    def y(value: float) -> float:
        return height - bottom - (height - bottom - top_pad) * value / top

    parts = [f'<svg role="img" aria-label="Progression vers l\'objectif" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" '
             f'y2="{height - bottom}" stroke="#555"/>',
             f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{height - bottom}" '
             'stroke="#555"/>']
    for value in range(0, top + 1, max(100, top // 5)):  # the vertical axis: people
        parts.append(f'<text x="{left - 6}" y="{y(value) + 4:.0f}" text-anchor="end" '
                     f'font-size="12">{value}</text>')
    for i, month in enumerate(months):  # the horizontal axis: each January, and the first month
        # the first month unless a January follows too closely for both labels
        if month.month.endswith("-01") or (i == 0 and int(month.month[5:7]) <= 9):
            label = month.month[:4] if month.month.endswith("-01") else _month_label(month.month)
            parts.append(f'<line x1="{x(i):.0f}" y1="{height - bottom}" x2="{x(i):.0f}" '
                         f'y2="{height - bottom + 5}" stroke="#555"/>'
                         f'<text x="{x(i):.0f}" y="{height - bottom + 20}" text-anchor="middle" '
                         f'font-size="12">{label}</text>')
    goal_y = y(report.goal)
    parts.append(f'<line x1="{left}" y1="{goal_y:.0f}" x2="{width - right}" y2="{goal_y:.0f}" '
                 'stroke="#c62828" stroke-dasharray="6 4"/>'
                 f'<text x="{width - right}" y="{goal_y - 6:.0f}" text-anchor="end" font-size="13" '
                 f'fill="#c62828">objectif : {report.goal} jeunes fin 2028</text>')
    if known:
        last_i, last_value = known[-1]
        end_y = y(report.projected_by_deadline)
        # the label under the line, or above it when the line runs along the axis
        label_y = end_y + 16 if end_y + 16 < height - bottom - 4 else end_y - 8
        parts.append(f'<line x1="{x(last_i):.0f}" y1="{y(last_value):.0f}" '
                     f'x2="{x(len(months) - 1):.0f}" y2="{end_y:.0f}" stroke="#1565c0" '
                     'stroke-dasharray="2 4"/>'
                     f'<text x="{width - right}" y="{label_y:.0f}" text-anchor="end" '
                     'font-size="13" fill="#1565c0">projection au rythme actuel : '
                     f'{report.projected_by_deadline:.0f}</text>')
        points = " ".join(f"{x(i):.0f},{y(v):.0f}" for i, v in known)
        parts.append(f'<polyline class="courbe" points="{points}" fill="none" stroke="#2e7d32" '
                     'stroke-width="4"/>')
    parts.append("</svg>")
    return "".join(parts)


MONTHS = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.",
          "nov.", "déc.")


def _month_label(month: str) -> str:
    return f"{MONTHS[int(month[5:7]) - 1]} {month[:4]}"


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


def _number(value: float) -> str:
    return f"{value:.1f}".replace(".", ",")


def _needed(progress: queries.ProgressReport) -> str:
    if progress.pace_needed_per_month is None:
        return "échéance passée"
    return f"{_number(progress.pace_needed_per_month)} jeune(s) par mois"


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
<p>Rythme depuis le début : {_number(progress.pace_so_far_per_month)} jeune(s) par mois ;
rythme nécessaire pour l'objectif : {_needed(progress)} ; {progress.months_left} mois
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
