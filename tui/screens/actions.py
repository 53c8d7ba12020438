"""What each key of the main screen (and palette entry) does: setup changes checked here
before they go to the trainer, views, samples, save, compare, help and quit. A mixin of
``smtui.tui.screens.main.MainScreen``, which supplies ``command`` and the reactive state
(``config``, ``report``, ``view``, ...) whose watchers redraw."""

from __future__ import annotations

from smtui.core.distributions import NAMES
from smtui.core.errors import UserError
from smtui.core.objectives import OBJECTIVES
from smtui.tui.render import report as render
from smtui.tui.runner.protocol import Configure, Langevin, Pause, Reinit, Step, Train
from smtui.tui.screens.commands import Setting, ask_save, parse_setting
from smtui.tui.screens.keys import LR_FACTOR, SIGMA_FACTOR, step_on_ladder
from smtui.tui.screens.modals import HelpScreen, QuitPrompt, ValuePrompt

# What s says in a session that may touch no files (`smtui --no-files`, every `smtui serve` session).
NO_FILES = ("saving is off: this session touches no files (smtui --no-files, as every smtui serve session "
            "runs unless the server is given --allow-files)")


class MainActions:
    """The main screen's actions (``action_*``, named in ``smtui.tui.screens.keys.MAIN_KEYS``) and the setup
    changes they make."""

    quit_when_saved = False  # q's "s": quit as soon as the trainer says the save is done

    def change(self, **changes) -> bool:
        """Apply a setup change, refusing it here (with why) if it cannot apply."""
        try:
            new = self.config.with_changes(**changes)
        except UserError as exc:
            self.notify(str(exc), title="refused", severity="error")
            return False
        if new != self.config:
            self.config = new
            self.command(Configure(changes))
        return True

    def show_view(self, view: int) -> None:
        self.view = view

    def ask_setting(self, setting: Setting) -> None:
        current = getattr(self.config, setting.field)

        def apply(text: str | None) -> None:
            if text is None:
                return
            try:
                changes = parse_setting(self.config, setting, text)
            except UserError as exc:
                self.notify(str(exc), title="refused", severity="error")
                return
            self.change(**changes)

        self.app.push_screen(ValuePrompt(f"{setting.title} ({setting.what})", "" if current is None else str(current)),
                         apply)

    def check_action(self, action: str, parameters) -> bool | None:
        if action == "step" and self.training:
            return None  # shown greyed: pause first
        if action in ("tour_page", "tour_leave") and self.tour_page < 0:
            return False  # no tour: the arrows and escape are not its
        return True

    def action_toggle_training(self) -> None:
        self.training = not self.training
        self.command(Train() if self.training else Pause())

    def action_step(self) -> None:
        self.command(Step())

    def action_reinitialise(self) -> None:
        self.command(Reinit())
        self.notify("parameters re-initialised (same seed)")

    def action_distribution(self, direction: int) -> None:
        cur = None if self.config.data_path else self.config.distribution
        i = NAMES.index(cur) if cur in NAMES else (-1 if direction > 0 else 0)
        self.change(distribution=NAMES[(i + direction) % len(NAMES)], data_path=None)

    def action_objective(self, direction: int) -> None:
        names = list(OBJECTIVES)
        i = names.index(self.config.objective)
        for k in range(1, len(names)):
            candidate = names[(i + direction * k) % len(names)]
            try:
                self.config.with_changes(objective=candidate)
            except UserError as exc:
                self.notify(f"skipped {candidate!r}: {exc}", severity="warning")
                continue
            self.change(objective=candidate)
            return

    def action_sigma(self, direction: int) -> None:
        self.change(sigma=self._step_on_ladder("sigma", SIGMA_FACTOR, direction))

    def action_lr(self, direction: int) -> None:
        self.change(lr=self._step_on_ladder("lr", LR_FACTOR, direction))

    def _step_on_ladder(self, field: str, factor: float, direction: int) -> float:
        return step_on_ladder(self._ladders, field, getattr(self.config, field), factor, direction)

    def action_view(self) -> None:
        self.show_view((self.view + 1) % len(render.VIEWS))

    def action_plane(self) -> None:
        if self.report is None or self.report.snapshot.dim <= 2:
            self.notify("the data is 1-D or 2-D: the field is drawn on its own axes, no plane to choose")
            return
        self.plane += 1

    def action_loss_view(self) -> None:
        self.loss_from = 0 if self.loss_from or self.report is None else max(self.report.snapshot.step, 1)

    def action_langevin(self) -> None:
        self.command(Langevin())
        self.show_view(render.VIEWS.index("Langevin samples"))

    def action_save(self) -> None:
        if not self.files:
            self.notify(NO_FILES, title="not saved", severity="warning")
            return
        ask_save(self)

    def action_compare(self) -> None:
        from smtui.tui.screens.compare import open_compare

        open_compare(self)

    def action_ladder(self) -> None:
        from smtui.tui.screens.ladder import open_ladder

        open_ladder(self)

    def action_help(self) -> None:
        if not isinstance(self.app.screen, HelpScreen):
            self.app.push_screen(HelpScreen())

    def action_quit_asking(self) -> None:
        """q: quit, after a question if steps were trained since the last save (ctrl+q does not ask)."""
        r = self.report
        unsaved = 0 if r is None or self.stopped or not self.files else r.snapshot.step - r.saved_step
        if unsaved <= 0:
            self.app.exit()
            return

        # Training pauses while the question is up, so the count it gives stays true.
        was_training = self.training
        if was_training:
            self.action_toggle_training()

        def stay() -> None:
            self.quit_when_saved = False
            if was_training and not self.training:
                self.action_toggle_training()  # stay: training goes on

        def answered(choice: str | None) -> None:
            if choice == "quit":
                self.app.exit()
            elif choice == "save":  # save, then quit once the trainer says it is saved (on_notice_arrived)
                self.quit_when_saved = True
                ask_save(self, dropped=lambda: (stay(), self.notify("nothing saved, so still here")))
            else:
                stay()

        self.app.push_screen(QuitPrompt(unsaved), answered)

    def saved_or_not(self, level: str, text: str) -> None:
        """After q's "save, then quit": quit once the save is done, saying where it went; stay
        if the save was refused or failed (the error is shown as usual)."""
        if not self.quit_when_saved:
            return
        self.quit_when_saved = False
        if level == "done":
            self.app.exit(message=text)
        else:
            self.notify("not saved, so not quit: q asks again", severity="warning")
