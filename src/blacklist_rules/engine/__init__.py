"""The engine: event → validate → identify → log → observe history → match → decide → record →
effects → outcome (DESIGN §4). `Engine` is the facade; each stage is a module of this package."""

from .facade import Engine, Outcome, default_rules_path, engine_problems, load_ruleset

__all__ = ["Engine", "Outcome", "default_rules_path", "engine_problems", "load_ruleset"]
