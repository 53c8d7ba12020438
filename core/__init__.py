"""smtui's headless engine: the paper's energy model, score-matching objectives,
honest estimators of their identities, and a step-by-step trainer.

Pure numpy + autograd; never imports a UI library.
"""
