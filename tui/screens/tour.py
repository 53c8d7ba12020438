"""A guided tour of the paper (docs/math.md; P. Vincent 2011), a page at a time beside the
live app: each page says what to look at, and sets the app up to show it through the same
checked setup changes the keys make (``MainActions.change``). t (or the palette, or
``smtui tour``) opens it on the first page; → and ← go on and back; escape leaves.

A mixin of ``smtui.tui.screens.main.MainScreen``, whose reactive ``tour_page`` (-1: no tour)
it watches; the pages are data (``PAGES``), so tests can hold each to what it claims."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text

from smtui.tui.render.field import VIEWS
from smtui.tui.screens.keys import MAIN_KEYS


@dataclass(frozen=True)
class Page:
    title: str
    text: str  # the argument, a few lines
    look: str  # what to look at on the screen now
    setup: dict = field(default_factory=dict)  # Config changes, made as the keys make them
    view: str = "model score"  # the score field's view (smtui.tui.render.field.VIEWS)
    train: bool = True  # train (the page's point is seen while it trains)
    fresh: bool = False  # re-initialise first: watch it fall from the start


RING = {"distribution": "ring8", "data_path": None, "sigma": 0.3}
PAGES = (
    Page("the energy model and its score ψ",
         "p(x; θ) = exp(−E(x; θ))/Z with E = −(⟨c, x⟩ − ½‖x‖² + Σⱼ softplus(⟨Wⱼ, x⟩ + bⱼ))/σ². Z is "
         "intractable, but the score needs none of it: ψ(x; θ) = ∇ₓ log p = (Wᵀ sigmoid(Wx + b) + c − x)/σ².",
         "the score field: ψ as arrows over ring8's points (v: other views, l: samples from p).",
         {**RING, "objective": "dsm"}, train=False),
    Page("explicit score matching needs the score of q",
         "ESM_q(θ) = E_q ½‖ψ(x; θ) − ∇ₓ log q(x)‖²: the model's score against the data's. For real data "
         "∇ log q is unknown; ring8 is a Gaussian mixture, so here it is known and ESM can be trained.",
         "the data score view, and the loss: ESM falls as ψ comes to match ∇ log q.",
         {**RING, "objective": "esm"}, view="data score"),
    Page("implicit score matching: integration by parts",
         "Hyvärinen: ESM_q = E_q[½‖ψ‖² + Σᵢ ∂ψᵢ/∂xᵢ] + C1, and C1 does not depend on θ. The unknown score "
         "is gone; the price is ∂ψᵢ/∂xᵢ, the Jacobian's diagonal (and on a finite sample, overfitting).",
         "the loss: ISM can go below zero (a linear axis); the difference view: ψ against ∇ log q.",
         {**RING, "objective": "ism"}, view="difference"),
    Page("Parzen smoothing gives q_σ",
         "q_σ(x̃) = (1/n) Σₜ N(x̃; xₜ, σ²I) blurs each training point by noise of width σ. Its score is "
         "known exactly, ∇ log q_σ(x̃) = (E[x | x̃] − x̃)/σ², and ESM_qσ fits ψ to it.",
         "the data score view: q_σ's arrows. + and − change σ: watch them blur and sharpen.",
         {**RING, "objective": "esm-sigma"}, view="data score"),
    Page("denoising score matching: ESM_qσ up to a constant",
         "DSM draws x̃ = x + σε and regresses ψ(x̃) on (x − x̃)/σ², needing no score at all. Its mean given x̃ "
         "is ∇ log q_σ(x̃), so DSM = ESM_qσ − (C2 − C3), a constant in θ: minimising one minimises the other.",
         "the one-scale plot: D (DSM + C2 − C3) on ESM_qσ's dotted line as both fall; DSM itself C2 − C3 away.",
         {**RING, "objective": "dsm"}, fresh=True),
    Page("the tied denoising autoencoder is DSM times 2σ⁴",
         "r(x̃) = Wᵀ sigmoid(Wx̃ + b) + c = x̃ + σ²ψ(x̃), so ‖r(x̃) − x‖² = 2σ⁴ · ½‖ψ(x̃) − (x − x̃)/σ²‖² on "
         "every pair: training this denoising autoencoder is denoising score matching.",
         "the identities (DSM beside DAE/2σ⁴) and the one-scale plot (A on the line). c compares them.",
         {**RING, "objective": "dae"}),
    Page("what σ buys and costs",
         "A small σ makes q_σ close to q, but DSM's gradients noisy and the field empty far from the data; "
         "a large σ is smooth everywhere, but fits q_σ, not q. ESM_q, beside the one-scale plot, is the cost.",
         "ESM_q as + and − move σ; ctrl+p → Sweep sigma… trains one run per σ and tabulates it.",
         {**RING, "objective": "dsm"}),
)


def tour_keys() -> str:
    """The tour's keys as one line (from the main screen's key table)."""
    return " · ".join(f"{k.label} {k.short}" for k in MAIN_KEYS if k.action.startswith("tour_"))


def page_text(i: int) -> Text:
    """Page ``i`` as the panel shows it: the argument, then what to look at."""
    page = PAGES[i]
    t = Text(page.text, end="")
    t.append("\n▸ ", style="bold")
    t.append("Look at " + page.look, style="bold")
    return t


class TourActions:
    """The tour's actions and its watcher, for the main screen (``tour_page`` is its reactive)."""

    def action_tour(self) -> None:
        """t: open the tour on its first page (again: on to the next)."""
        self.tour_page = 0 if self.tour_page < 0 else (self.tour_page + 1) % len(PAGES)

    def action_tour_page(self, direction: int) -> None:
        self.tour_page = min(max(self.tour_page + direction, 0), len(PAGES) - 1)

    def action_tour_leave(self) -> None:
        self.tour_page = -1

    def watch_tour_page(self, old: int, new: int) -> None:
        self.touring = new >= 0
        if new < 0 or not self.drawable:
            return
        page = PAGES[new]
        panel = self.query_one("#tour")
        panel.border_title = f"tour {new + 1}/{len(PAGES)} · {page.title}"
        panel.border_subtitle = tour_keys()
        panel.update(page_text(new))
        self.change(**page.setup)  # checked as the keys' changes are: a refusal is said, the rest stays
        self.show_view(VIEWS.index(page.view))
        if page.fresh:
            self.action_reinitialise()
        if page.train and not self.training:
            self.action_toggle_training()
