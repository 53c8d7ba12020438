"""The modal screens: the help (a screen's keys, what it shows), a one-line prompt for
exact values and file names, a yes/no question (overwrite a file?), the question q
asks when steps are unsaved, and the setup as one command line to copy. Each one's
bindings and key line come from its key table (``smtui.tui.screens.keys``)."""

from __future__ import annotations

import shlex
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from smtui.tui.screens.keys import CONFIRM_KEYS, HELP_KEYS, MAIN_KEYS, PROMPT_KEYS, QUIT_KEYS, SETUP_KEYS, KeyTable

CSS = Path(__file__).with_name("modals.tcss")

FIGURES = (
    "[b]What the figures mean[/b]  (P. Vincent, \"A Connection Between Score Matching and Denoising "
    "Autoencoders\", 2011; t walks through the argument, a page at a time)\n\n"
    "[b]Score field[/b]  The model score ψ(x) = (Wᵀ sigmoid(Wx + b) + c - x) / σ² drawn as arrows: the glyph is "
    "the direction, the colour the size (blue small → red large, by quintile), over the training points (·). "
    "Views (v): model score ψ; data score (the exact σ-smoothed score for analytic distributions, the Parzen "
    "score otherwise); their difference; the model density exp(-E) normalised on the grid; samples drawn by "
    "Metropolis-adjusted Langevin from the model's energy (l; exact, chains started across the data's "
    "range). 1-D data shows each view as one curve over x: ψ, the data score or their difference, each with "
    "the zero line (where ψ crosses it downwards the model density has a mode); then the model density beside "
    "a histogram of the training points, or of the Langevin samples once drawn.\n\n"
    "[b]Loss[/b]  The training objective over steps, every value drawn: on a log10 axis while all are "
    "positive, on a linear one once any is not (ISM losses can be negative). A vertical mark shows where the "
    "setup changed.\n\n"
    "[b]One scale: the paper's result[/b]  At each evaluation every objective on one fixed evaluation set, "
    "shifted by its exact constant onto ESM_qσ's scale and drawn over steps on one linear axis: ESM_qσ (the "
    "dotted line) and, on it, D = DSM + (C2 - C3), I = ISM_qσ + C2, A = DAE/(2σ⁴) + (C2 - C3). DSM and DAE "
    "are measured as training defines them (each noisy point against its own clean point), so the letters "
    "landing on the line is a measurement: they fall together while the model trains. DSM itself runs C2 - C3 "
    "away (the gap is labelled), and for ring8, gaussian and bimodal ESM_q, the distance to the true score, "
    "shows what σ costs. At 80x24 this plot takes the place of the ESM-DSM line, and its legend is in the "
    "panel's border.\n\n"
    "[b]Identities[/b]  Every figure on one fixed evaluation set (Gauss-Hermite quadrature for d ≤ 2, Monte "
    "Carlo with standard errors otherwise), each row measured beside its theory value, ± its error:\n"
    "  ESM-DSM  ESM_qσ - DSM_qσ, DSM measured as training defines it, beside C2 - C3: the paper's main result.\n"
    "  pairs    the same from one clean point per noisy one, as training sees it, ± its standard error.\n"
    "  ISM-DSM  beside -d / (2σ²).\n"
    "  DSM      beside DAE / (2σ⁴): algebra, equal on every batch.\n"
    "✓ agree: the difference is within its bound (3 errors, plus float64 rounding of the terms subtracted) and "
    "that bound is below a quarter of what the check must resolve, so it could have failed. ✗ disagree: the "
    "difference is beyond the bound. ? undecided: the bound is too large to resolve anything (at step 0 for "
    "σ ≤ 0.01, where the terms are ~1e8; in 6-D, where C2 - C3 is about 0), a figure is missing, or a few rare "
    "pairs carry the sample's spread. After a divergence nothing is ticked: the rows say \"diverged\". A "
    "model sharper than the quadrature resolves (σ max‖W_j‖ > 3: a sigmoid steep across one Parzen bump) is "
    "evaluated by Monte Carlo instead, with standard errors.\n\n"
    "[b]ESM-DSM over steps[/b]  (120x40 and larger) The measured ESM - DSM stays flat, within its error, while "
    "the losses fall: the two objectives differ by a constant that does not depend on the parameters. The "
    "pairs estimate wobbles around it. The middle tick is C2 - C3; the two ends are the axis's range, not an "
    "uncertainty.\n\n"
    "[b]Status line[/b]  step, training steps per second while training (wall clock, evaluations included, the "
    "mean over the last 10 s of training, so it is steady; none while paused), time spent training (saved "
    "with the experiment), and the state with what to do next. While training, the figures are re-evaluated "
    "every second or two (evaluation is kept to a twentieth of the trainer's time; to half in the first "
    "3,000 steps after a start or a setup change, when the objectives fall fastest) and the score field about "
    "four times a second. A trainer that says nothing for 2 s (its process stopped, or starved of CPU) is shown "
    "as stalled, and the time it stood still is not counted. A narrow terminal drops the least needed parts "
    "of the line, and of the key bar (every key is listed above).\n\n"
    "[b]Command palette[/b] (ctrl+p)  every action, every distribution, objective, optimiser and view, and "
    "exact values: sigma, learning rate, hidden size, seed, lambda, batch size, training-set size, data file. "
    "Also: save or load an experiment (a .toml setup with the parameters in a .npz and the metric history in "
    "a .csv beside it; `smtui --load FILE.toml` resumes one), export a screenshot (SVG) or the metric history "
    "(CSV), sweep a grid of settings (sigma by default: a run per cell and seed in worker processes, then a "
    "table and plots of ESM_q and of DSM's gradient variance over ESM_qσ's against sigma: what each setting "
    "buys and costs), and restart the trainer if it stopped. Copy setup shows the one command line "
    "(`smtui --distribution … --sigma …`) that starts this setup again, to copy. "
    "Nothing is overwritten without asking.\n"
)


class HelpScreen(ModalScreen[None]):
    """A screen's keys (from its key table) and what it shows; escape (or ?, q) closes it."""

    CSS_PATH = CSS
    BINDINGS = HELP_KEYS.bindings()

    def __init__(self, keys: KeyTable = MAIN_KEYS, about: str = FIGURES) -> None:
        super().__init__()
        self.keys, self.about = keys, about

    def compose(self) -> ComposeResult:
        text = self.keys.help()
        text.append("\n")
        text.append_text(Text.from_markup(self.about))
        with VerticalScroll(id="help") as box:
            box.border_title = "Help"
            box.border_subtitle = HELP_KEYS.hint()
            yield Static(text, id="help-text")


class ValuePrompt(ModalScreen[str | None]):
    """Ask for one exact value; enter submits it, escape cancels."""

    CSS_PATH = CSS
    BINDINGS = PROMPT_KEYS.bindings()
    KEYS = PROMPT_KEYS

    def __init__(self, question: str, current: str) -> None:
        super().__init__()
        self.question, self.current = question, current

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt"):
            yield Label(self.question)
            yield Input(value=self.current, id="prompt-input", select_on_focus=True)
            yield Label(self.KEYS.hint(), classes="dim")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class Confirm(ValuePrompt):
    """A yes/no question (styled as the value prompt, whose CSS it shares by subclassing);
    y or enter says yes, n or escape says no."""

    BINDINGS = CONFIRM_KEYS.bindings()
    KEYS = CONFIRM_KEYS

    def __init__(self, question: str) -> None:
        super().__init__(question, "")

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt"):
            yield Label(self.question)
            yield Label(self.KEYS.hint(), classes="dim")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class QuitPrompt(ValuePrompt):
    """q with unsaved steps: y (or q again) quits, s saves first, n or escape stays."""

    BINDINGS = QUIT_KEYS.bindings()
    KEYS = QUIT_KEYS

    def __init__(self, unsaved: int) -> None:
        super().__init__(f"{unsaved:,} step{'s' if unsaved != 1 else ''} since the last save would be lost. "
                         "Quit?", "")

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt"):
            yield Label(self.question)
            yield Label(self.KEYS.hint(), classes="dim")

    def action_answer(self, choice: str | None) -> None:
        self.dismiss(choice)


def shell_lines(words: list[str], width: int) -> str:
    """A command line that fits ``width`` columns: broken before a flag where it would not fit,
    each broken line ending in `` \\`` so that the shell reads it back as one line."""
    lines = [words[0]]
    for i in range(1, len(words)):
        word = words[i]
        starts_flag = word.startswith("--") and i + 1 < len(words) and not words[i + 1].startswith("--")
        if starts_flag and len(lines[-1]) + 1 + len(word) + 1 + len(words[i + 1]) + 2 > width:
            lines[-1] += " \\"
            lines.append("  " + word)
        else:
            lines[-1] += " " + word
    return "\n".join(lines)


class SetupLine(ModalScreen[None]):
    """The palette's "Copy setup": the one command line that starts the current setup again, in
    a box to select with the mouse, or c to put it on the clipboard; escape closes."""

    CSS_PATH = CSS
    BINDINGS = SETUP_KEYS.bindings()

    def __init__(self, words: list[str]) -> None:
        super().__init__()
        self.words, self.command = words, shlex.join(words)

    def compose(self) -> ComposeResult:
        with Vertical(id="setup-box") as box:
            box.border_title = "Copy setup"
            yield Label("This setup as one command line (the app, from step 0):")
            yield Static(self.command, id="setup-line", markup=False)
            yield Label("A smtui serve --web address takes the same flags: ?setup=--sigma+0.5…", classes="dim")
            yield Label(SETUP_KEYS.hint(), classes="dim")

    def on_mount(self) -> None:
        self.call_after_refresh(self._fit)

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit)

    def _fit(self) -> None:
        """Break the line where the box is too narrow for it (a terminal's selection would cut
        it at the box's edge, mid-flag)."""
        line = self.query_one("#setup-line", Static)
        line.update(shell_lines([shlex.quote(w) for w in self.words], max(line.content_size.width, 20)))

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.command)
        self.notify("copied (a terminal that refuses OSC 52 leaves the clipboard as it was: select it instead)")
