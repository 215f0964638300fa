"""A local provider sandbox: a DEVELOPMENT TOOL, never a stand-in for the real providers.

It serves seeded, deterministic data in the GoCardless, Stripe and GoCardless Bank Account Data
shapes over real HTTP, with switches for 429 bursts, 5xx, slow answers and page-boundary
duplicates, and `GET /_sandbox/truth` with the full expected set, so the demo and the integration
tests can pull from it and check the result exactly. `payrecon sandbox` runs it (see
docs/providers.md); tests use `serve_in_thread`.
"""

from payrecon.sandbox.app import create_app
from payrecon.sandbox.server import RunningSandbox, run, serve_in_thread
from payrecon.sandbox.state import DEFAULT_TOKEN, ConfigError, SandboxConfig, SandboxState

__all__ = [
    "DEFAULT_TOKEN",
    "ConfigError",
    "RunningSandbox",
    "SandboxConfig",
    "SandboxState",
    "create_app",
    "run",
    "serve_in_thread",
]
