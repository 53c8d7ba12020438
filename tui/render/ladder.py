"""Pure builders for the ladder screen: a ladder snapshot and a size in, rich ``Text`` out (run
in the screen's worker, tested without an app).

* The particle clouds at each rung, side by side (small multiples, one row per score
  source): each a density of the particles over the data's box, every occupied cell shaded
  by the quantile of its count among the occupied cells (one dot per particle would
  saturate at 2,000), q's mode centres marked where known, the rung being walked in bold.
* The mode weights as bars with q's weight as a tick, for one small sigma, one large sigma
  and the ladder, side by side: why one sigma is not enough.
* The score field at a chosen rung (the one field renderer, ``smtui.tui.render.field``).
* A strip of metrics: MMD^2, off-mode share, weight TV and spread of every walk."""

from __future__ import annotations

import numpy as np
from rich.style import Style
from rich.text import Text

from smtui.core.distributions import analytic
from smtui.core.sample_metrics import MMD_WIDTH
from smtui.tui.render import field, frames, plot
from smtui.tui.render.frames import Job, Panels
from smtui.tui.render.numbers import g
from smtui.tui.render.status import fit
from smtui.tui.runner.ladder_job import LadderReport, LadderSnapshot
from smtui.tui.runner.protocol import Progress

GLYPHS = "·:+*#@"  # density levels, low to high (quantiles of the occupied cells' counts)
SHADES = ((40, 100, 255), (0, 200, 220), (60, 200, 60), (230, 210, 0), (255, 140, 0), (255, 50, 30))
MODE = "+"  # a mode centre of q, where no particle is
MIN_MULTIPLE = 18  # cells across one small multiple
VERDICT = {"agree": "✓", "disagree": "✗", "undecided": "?"}
FIELD_VIEWS = ("model score", "data score", "difference", "model density")  # of field.VIEWS
KIND_LABEL = {"ladder": "ladder", "small": "one small σ", "large": "one large σ"}
SOURCE_LABEL = {"learned": "learned score", "exact": "exact score"}


def _rgb(c) -> str:
    return f"rgb({c[0]},{c[1]},{c[2]})"


def shown_rungs(levels: int, current: int | None, count: int) -> list[int]:
    """``count`` rungs evenly spaced from the top to the bottom one, the rung being walked
    among them (in place of the nearest)."""
    if count >= levels:
        return list(range(levels))
    picked = [int(round(v)) for v in np.linspace(0, levels - 1, max(count, 1))]
    if current is not None and current not in picked:
        nearest = min(range(len(picked)), key=lambda i: (abs(picked[i] - current), i))
        picked[nearest] = current
    return sorted(set(picked))


def density_rows(x: np.ndarray | None, box, width: int, height: int, modes: np.ndarray | None = None,
                 colour: bool = True) -> list[Text]:
    """``height`` rows of ``width`` cells: the particles x (n, 2; or (n, 1): a histogram in
    bars) over ``box`` (lo, hi), by quantile of the occupied cells' counts (see the module's
    note); q's ``modes`` marked in empty cells."""
    lo, hi = (np.asarray(b, dtype=float) for b in box)
    rows = [Text(no_wrap=True, end="") for _ in range(max(height, 0))]
    if x is None or width < 1 or height < 1:
        return rows
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x).all(axis=1)]
    if x.shape[1] == 1:
        return _bars_1d(x[:, 0], lo[0], hi[0], width, height, colour)
    ix = np.floor((x[:, 0] - lo[0]) / (hi[0] - lo[0]) * width).astype(int)
    iy = np.floor((hi[1] - x[:, 1]) / (hi[1] - lo[1]) * height).astype(int)  # row 0 at the top
    inside = (ix >= 0) & (ix < width) & (iy >= 0) & (iy < height)
    counts = np.bincount(iy[inside] * width + ix[inside], minlength=width * height).reshape(height, width)
    level = np.full(counts.shape, -1)
    occupied = counts > 0
    if occupied.any():
        level[occupied] = plot.levels(counts[occupied].astype(float), len(GLYPHS))
    marks = set()
    if modes is not None:
        mx = np.floor((modes[:, 0] - lo[0]) / (hi[0] - lo[0]) * width).astype(int)
        my = np.floor((hi[1] - modes[:, 1]) / (hi[1] - lo[1]) * height).astype(int)
        marks = {(int(r), int(c)) for r, c in zip(my, mx) if 0 <= r < height and 0 <= c < width}
    for r in range(height):
        for c in range(width):
            k = level[r, c]
            if k >= 0:
                rows[r].append(GLYPHS[k], style=Style(color=_rgb(SHADES[k])) if colour else None)
            elif (r, c) in marks:
                rows[r].append(MODE, style="dim")
            else:
                rows[r].append(" ")
    return rows


def _bars_1d(x, lo, hi, width, height, colour) -> list[Text]:
    counts, _ = np.histogram(x, bins=width, range=(lo, hi))
    top = max(int(counts.max()), 1) if counts.size else 1
    filled = np.ceil(counts / top * height).astype(int)
    rows = []
    for r in range(height):
        t = Text(no_wrap=True, end="")
        for c in range(width):
            t.append("█" if filled[c] >= height - r else " ", style=_rgb(SHADES[3]) if colour else None)
        rows.append(t)
    return rows


def rungs_panel(snap: LadderSnapshot | None, source: str, width: int, height: int, colour: bool = True) -> Text:
    """The clouds one source's ladder walk left at the rungs shown (``shown_rungs``), side by
    side, each under a line: sigma, the identity's verdict there (learned) and the MMD^2 of the
    cloud to q_sigma."""
    walk = snap.walks.get((source, "ladder")) if snap is not None else None
    if snap is None:
        return plot.note(width, height, "setting up the ladder…")
    if walk is None:
        what = {"training": f"training: step {snap.step:,} of {snap.setup.steps:,}",
                "checking": "checking the paper's identity at every rung"}.get(snap.phase, "…")
        return plot.note(width, height, what)
    K = len(snap.sigmas)
    count = max(1, min(K, (width + 1) // (MIN_MULTIPLE + 1)))
    rungs = shown_rungs(K, walk.level if walk.done < walk.total else None, count)
    cell = (width + 1) // len(rungs) - 1
    modes = _modes(snap)
    heads, bodies = [], []
    for k in rungs:
        cloud = walk.clouds[k] if k < len(walk.clouds) else (walk.x if k == walk.level and walk.done else None)
        row = snap.per_level[k] if k < len(snap.per_level) else {}
        mmd = row.get("mmd2" if source == "learned" else "exact_mmd2")
        verdict = (row.get("identity") or {}).get("verdict") if source == "learned" else None
        head = Text(no_wrap=True, end="")
        now = k == walk.level and walk.done < walk.total
        head.append(f"σ{snap.sigmas[k]:.3g}", style="bold reverse" if now else "bold")
        if verdict:
            head.append(f" {VERDICT[verdict]}", style={"agree": "green", "disagree": "red"}.get(verdict, "yellow"))
        if mmd is not None:  # (unbiased: a little below 0 where the cloud matches q_sigma)
            head.append(f" M{mmd:.3f}" if abs(mmd) >= 5e-4 else " M0", style="dim")
        head.truncate(cell, pad=True)
        heads.append(head)
        bodies.append(density_rows(cloud, snap.box, cell, height - 1, modes, colour))
    out = Text(no_wrap=True, end="")
    out.append_text(Text(" ").join(heads))
    for r in range(height - 1):
        out.append("\n")
        out.append_text(Text("│").join(body[r] for body in bodies))
    return out


def _modes(snap: LadderSnapshot):
    q = snap.setup.config
    if snap.target_weights is None or q.data_path is not None or snap.dim != 2:
        return None
    return analytic(q.distribution).means


def bars_panel(snap: LadderSnapshot | None, source: str, width: int, height: int, colour: bool = True) -> Text:
    """Mode weights of one small sigma, one large sigma and the ladder (``source``'s walks),
    side by side: a bar per mode and q's weight as a tick (┃), with the weight TV beneath."""
    if snap is None or snap.target_weights is None:
        return plot.note(width, height, "no known modes: see MMD² and the histogram below" if snap is not None
                         else "…")
    runs = [snap.walks.get((source, kind)) for kind in ("small", "large", "ladder")]
    if not any(runs):
        return plot.note(width, height, "the bars come when the walks do")
    target = np.asarray(snap.target_weights)
    col = (width + 1) // 3 - 1
    bar = max(col - 4, 4)
    top = max(float(target.max()) * 1.6, 1e-9)
    columns = []
    for kind, w in zip(("small", "large", "ladder"), runs):
        tv = (w.metrics or {}).get("weight_tv") if w is not None else None
        tv_text = Text(f"TV {tv:.3f}" if tv is not None else "…", style="bold", end="")
        head = Text(_run_label(kind, w), style="bold", no_wrap=True, end="")
        below = height >= len(target) + 2  # room for the TV on a line of its own
        if not below:
            head.append(" ")
            head.append_text(tv_text)
        lines = [head]
        weights = (w.metrics or {}).get("mode_weights") if w is not None else None
        for i, t in enumerate(target):
            line = Text(f"{i + 1:>2} ", no_wrap=True, end="")
            cells = int(round(min(weights[i], top) / top * bar)) if weights is not None else 0
            tick = min(int(round(t / top * bar)), bar - 1)
            for c in range(bar):
                filled = c < cells
                if c == tick:
                    line.append("┃", style="bold white on rgb(60,60,60)" if filled else "bold")
                else:
                    line.append("█" if filled else " ", style=_rgb(SHADES[2 if kind == "ladder" else 4])
                                if colour else None)
            lines.append(line)
        if below:
            lines.append(tv_text)
        columns.append(lines)
    out = Text(no_wrap=True, end="")
    for r in range(min(height, len(columns[0]))):
        if r:
            out.append("\n")
        for j, lines in enumerate(columns):
            piece = lines[r].copy()
            piece.truncate(col, pad=True)
            out.append_text(piece)
            if j < 2:
                out.append(" ")
    return out


def _run_label(kind: str, w) -> str:
    if w is None:
        return KIND_LABEL[kind]
    return "ladder" if kind == "ladder" else f"σ {w.sigmas[0]:.2g}"


def field_panel(snap: LadderSnapshot | None, view: int, source: str, width: int, height: int,
                colour: bool = True) -> Text:
    """The score field at the chosen rung: the learned model's (or the exact smoothed score's)
    in one of FIELD_VIEWS, drawn by the one field renderer."""
    if snap is None:
        return plot.note(width, height, "…")
    if snap.dim > 2:
        return plot.note(width, height, f"{snap.dim}-D data:", "no field to draw")
    f = snap.exact_field if source == "exact" and snap.exact_field is not None else snap.field
    if f is None:
        return plot.note(width, height, "…")
    return field.field_text(f, field.VIEWS.index(FIELD_VIEWS[view]), width, height, points=snap.points,
                            colour=colour)


def strip(snap: LadderSnapshot | None, width: int, height: int) -> Text:
    """Every walk's metrics, one column a walk (learned, then exact), one row a metric."""
    t = Text(no_wrap=True, end="")
    if snap is None or not snap.walks:
        t.append(f"metrics (MMD² with kernel width {MMD_WIDTH:g}) come when the walks end", style="dim")
        return t
    keys = [k for k in snap.walks]
    t.append(f"{'':<10}", style="bold")
    for source, kind in keys:
        w = snap.walks[(source, kind)]
        name = "ladder" if kind == "ladder" else f"σ {w.sigmas[0]:.2g}"
        t.append(f"{name + ('' if source == 'learned' else '*'):>10}", style="bold")
    rows = (("MMD²", "mmd2"), ("off-mode", "off_mode"), ("weight TV", "weight_tv"), ("spread", "spread"))
    for label, key in rows[: max(height - 1, 0)]:
        t.append("\n")
        t.append(f"{label:<10}")
        for k in keys:
            m = snap.walks[k].metrics
            t.append(g(m.get(key) if m else None, 10))
    if height > len(rows) + 1 and any(s == "exact" for s, _ in keys):
        t.append(f"\n* exact score · MMD² kernel width {MMD_WIDTH:g}", style="dim")
    return t


def status_parts(report: Progress | None, stopped: str = "", silent: float = 0.0) -> list[tuple[str, str, int]]:
    """The phase, its progress and what to press next, as parts for ``status.fit``."""
    if stopped:
        return [(f"✗ {stopped}", "bold red", 0), (" — escape returns to the main screen", "bold red", 1)]
    if not isinstance(report, LadderReport):
        return [("ladder · starting…" + (f" {report.busy}…" if report is not None and report.busy else ""), "", 0)]
    snap = report.snapshot
    K, setup = len(snap.sigmas), snap.setup
    parts = [(f"K {K} · σ {snap.sigmas[0]:.3g}→{snap.sigmas[-1]:.3g} · {setup.sampler} T {setup.steps_per_level}",
              "bold", 0), (" · ", "", 0)]
    if silent:
        return parts + [(f"⚠ stalled: no word from the ladder for {silent:.0f} s", "bold red", 0)]
    walk = snap.walks.get(("learned", "ladder"))
    phase = snap.phase
    if snap.status != "ok":
        parts.append(("✗ training diverged (sampled as it was)", "bold red", 0))
        parts.append((" · ", "", 0))
    if phase == "training":
        loss = f" · loss {snap.loss:.3g}" if snap.loss is not None else ""
        parts.append((f"training {snap.step:,}/{setup.steps:,}", "", 0))
        parts.append((loss, "", 3))
    elif phase == "sampling" and walk is not None:
        parts.append((f"rung {walk.level + 1}/{K} σ {walk.sigma:.3g}", "", 0))
        if snap.ms_per_step:
            parts.append((f" · {snap.ms_per_step:.2f} ms a step", "dim", 4))
    elif phase == "done":
        parts.append(("done", "bold green", 0))
        parts.append((" — s samples again", "", 1))
        return parts
    else:
        parts.append((phase, "", 0))
    if report.training:
        parts.append((" ▶", "bold green", 0))
        parts.append((" — space pauses", "", 2))
    else:
        parts.append((" ❚❚ paused", "bold yellow", 0))
        parts.append((" — space goes on, n walks one rung", "", 1))
    if report.busy:
        parts.append((f" · {report.busy}…", "italic", 2))
    return parts


def status_text(report: Progress | None, stopped: str = "", silent: float = 0.0, width: int = 200) -> Text:
    return fit(status_parts(report, stopped, silent), width)


def frame(snap: LadderSnapshot, view: int, source: str, sizes: dict[str, tuple[int, int]], shown: dict | None = None,
          colour: bool = True) -> Panels:
    """The ladder screen's frame by the one panel builder: both rows of clouds, the bars, the
    field and the strip; built from (round, every walk's progress)."""
    size = lambda wid: sizes.get(wid, (0, 0))  # noqa: E731
    jobs = {"lad-learned": Job(rungs_panel, (snap, "learned", *size("lad-learned"), colour)),
            "lad-exact": Job(rungs_panel, (snap, "exact", *size("lad-exact"), colour)),
            "lad-bars": Job(bars_panel, (snap, source, *size("lad-bars"), colour), (size("lad-bars"), source, colour,
                            snap.round, snap.setup, snap.target_weights, _finished(snap))),
            "lad-field": Job(field_panel, (snap, view, source, *size("lad-field"), colour),
                             (size("lad-field"), snap.round, snap.field_rung, snap.step, view, source,
                              snap.field is not None, snap.phase)),
            "lad-strip": Job(strip, (snap, *size("lad-strip")), (size("lad-strip"), snap.round, snap.setup,
                                                                 _finished(snap)))}
    progress = (snap.round, snap.step, tuple(w.done for w in snap.walks.values()), snap.phase)
    return frames.panels(jobs, sizes, shown, progress, view)


def _finished(snap: LadderSnapshot) -> tuple:
    """Which walks have their metrics: all the bars and the strip depend on besides the setup."""
    return tuple(sorted(key for key, w in snap.walks.items() if w.metrics is not None))


ABOUT = (
    "[b]From one σ to a ladder[/b]  One σ is a trade-off: a small σ learns a sharp q_σ but its Langevin "
    "chains cannot cross between modes (each mode keeps the mass of its basin), and the learned energy's errors "
    "are multiplied by 1/σ²; a large σ mixes but blurs. Song & Ermon (2019) train one model across a ladder "
    "σ₁ > … > σ_K and sample by walking down it.\n\n"
    "[b]The model[/b]  The paper's energy with W shared and the biases moved by σ: b(σ) = b + e(σ)B, c(σ) = "
    "c + e(σ)C, e(σ) a hat over the rungs in log σ. At every σ it is the paper's model, so its DSM at each rung "
    "obeys the paper's identity (✓ over each cloud: ESM − DSM = C2 − C3 measured there). Trained by DSM over the "
    "ladder with λ(σ) = σ², one rung per row.\n\n"
    "[b]Clouds[/b]  The particles as they leave each rung, shaded by how many fall in each cell (quantiles of "
    "the occupied cells), q's mode centres marked +; M is the cloud's MMD² to q_σ: where the model breaks down. "
    "The top row walks the learned score, the second the exact smoothed score of q: what the sampler alone "
    "does.\n\n"
    "[b]Bars[/b]  Mode weights (share of the samples within 3 std of each mode) with q's weight as ┃, for one "
    "small σ and one large σ sampled with the same budget, and the ladder; TV is their total variation "
    "from q's. x switches between the learned and the exact score.\n\n"
    "[b]Strip[/b]  MMD² (Gaussian kernel, width 0.2), the share of samples more than 3 std from every mode, "
    "the weight TV and the spread (RMS distance to the nearest point of q, over that of q's own points).\n"
)
