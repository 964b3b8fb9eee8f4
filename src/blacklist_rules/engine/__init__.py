"""The engine: event → validate → identify → log → observe history → match → decide → record →
effects → outcome (DESIGN §4). `Engine` is the facade; each stage is a module of this package,
all over one `EventContext` per event (`context`) and one `Core` per engine (`core`), with
every in-memory mirror of stored state in `mirrors`."""

from .context import Outcome
from .facade import Engine
from .loading import default_rules_path, engine_problems, load_ruleset

__all__ = ["Engine", "Outcome", "default_rules_path", "engine_problems", "load_ruleset"]
