"""smtui: a terminal playground for P. Vincent, "A Connection Between Score Matching and
Denoising Autoencoders" (2011). ``smtui.core`` is the headless engine (folder ``core/``),
``smtui.tui`` the app and the command line (folder ``tui/``)."""
