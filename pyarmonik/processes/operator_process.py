"""``pyarmonik operator``, with its optional dependencies checked first."""

from __future__ import annotations

import asyncio

from pyarmonik.settings import OperatorSettings


async def run_operator(settings: OperatorSettings, stop: asyncio.Event) -> None:
    try:
        from pyarmonik.operator import main
    except ModuleNotFoundError as exc:
        raise RuntimeError(f"the operator needs {exc.name}: pip install 'pyarmonik[operator]'") from None
    await main.run_operator(settings, stop)
