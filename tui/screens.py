"""The two modal screens: the help (every key, what the figures mean) and a one-line
prompt for exact values."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from tui.keys import KEYS

FIGURES = """\
[b]What the figures mean[/b]  (P. Vincent, "A Connection Between Score Matching and Denoising Autoencoders", 2011)

[b]Score field[/b]  The model score ψ(x) = (Wᵀ sigmoid(Wx + b) + c - x) / σ² as arrows: the glyph is the
direction, the colour the size (blue small → red large, by quintile). Views: model score ψ; data score (the
exact σ-smoothed score for analytic distributions, the Parzen score otherwise); their difference; the model
density exp(-E) normalised on the grid; samples drawn by Langevin dynamics from ψ. 1-D data shows curves.

[b]Loss[/b]  The training objective over steps, as log10 of its positive values (ISM losses can be negative
and are then not drawn). A vertical mark shows where the setup changed.

[b]Identities[/b]  Each figure on a fixed evaluation set (quadrature for d ≤ 2), so they hold exactly:
  ESM-DSM   measured ESM_qσ - DSM_qσ beside its theory value C2 - C3 (the paper's main result);
  pairs     the same from one clean point per noisy one, as training sees it, ± its standard error;
  ISM-DSM   beside -d / (2σ²);      DSM  beside DAE / (2σ⁴) (algebra: equal on every batch).
✓ marks agreement within tolerance (1e-3 relative, or 3 standard errors for a Monte Carlo figure).
[b]ESM-DSM over steps[/b] stays flat while the losses fall: the two objectives differ by a constant.

[b]Status line[/b]  step, training steps per second (wall clock, evaluations included), time spent training,
and the state with what to do next. ctrl+p opens the command palette: every action, and exact values
(sigma, learning rate, hidden size, seed, lambda, batch, data file, distribution, objective, optimiser).
"""


class HelpScreen(ModalScreen[None]):
    """Every key and what the figures mean; escape (or ?, q) closes it."""

    BINDINGS = [Binding("escape", "dismiss", "close"), Binding("question_mark", "dismiss", "close", show=False),
                Binding("q", "dismiss", "close", show=False)]

    def compose(self) -> ComposeResult:
        keys = "\n".join(f"  [b]{k.label:>7}[/b]  {k.help}" for k in KEYS)
        with VerticalScroll(id="help") as box:
            box.border_title = "Help"
            box.border_subtitle = "escape closes"
            yield Static(f"[b]Keys[/b]\n{keys}\n\n{FIGURES}", id="help-text")


class ValuePrompt(ModalScreen[str | None]):
    """Ask for one exact value; enter submits it, escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, question: str, current: str) -> None:
        super().__init__()
        self.question, self.current = question, current

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt"):
            yield Label(self.question)
            yield Input(value=self.current, id="prompt-input", select_on_focus=True)
            yield Label("enter sets it · escape cancels", classes="dim")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
