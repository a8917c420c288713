"""DuckDB extensions from their pip packages, never from the internet.

The project's extension directory holds links to the packages' signed binaries, laid out
as DuckDB expects (`v<version>/<platform>/<name>.duckdb_extension`); every connection points
`extension_directory` there and disables auto-install, so a missing extension fails with a
clear message instead of a download attempt. Links, not copies: the three binaries weigh
108 MB, which every new project would otherwise copy.
"""

from __future__ import annotations

import importlib.util
import shutil
from functools import cache
from pathlib import Path

import duckdb

from headwater.errors import TerminalError

EXTENSIONS: dict[str, str] = {
    "ducklake": "duckdb_extension_ducklake",
    "sqlite_scanner": "duckdb_extension_sqlite_scanner",
    "postgres_scanner": "duckdb_extension_postgres_scanner",
}
"""Extension name -> the pip package that ships its binary."""


def packaged_extension_path(name: str) -> Path:
    """Path of the binary shipped by the pip package of extension `name`."""
    package = EXTENSIONS[name]
    spec = importlib.util.find_spec(package)
    version = duckdb.__version__
    if spec is None or spec.origin is None:
        raise TerminalError(
            f"DuckDB extension '{name}' is not installed: pip install {package.replace('_', '-')}"
            f"=={version}"
        )
    binary = Path(spec.origin).parent / "extensions" / f"v{version}" / f"{name}.duckdb_extension"
    if not binary.is_file():
        raise TerminalError(
            f"{package} has no build for DuckDB {version} (looked for {binary}); install the "
            f"matching version: pip install {package.replace('_', '-')}=={version}"
        )
    return binary


def connection_config(extension_dir: Path) -> dict[str, str | bool | int | float | list[str]]:
    """DuckDB settings that make extensions load only from `extension_dir`."""
    return {
        "extension_directory": str(extension_dir),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": True,
    }


def ensure_extensions(extension_dir: Path) -> None:
    """Link the packaged extensions into `extension_dir` unless already there."""
    target_dir = extension_dir / f"v{duckdb.__version__}" / _platform()
    for name in EXTENSIONS:
        target = target_dir / f"{name}.duckdb_extension"
        if target.exists():
            continue
        target_dir.mkdir(parents=True, exist_ok=True)
        source = packaged_extension_path(name)
        try:
            target.symlink_to(source)
        except FileExistsError:  # a dangling link from an old venv, or a concurrent process
            if not target.exists():
                target.unlink()
                target.symlink_to(source)
        except OSError:  # no symlinks on this file system: copy instead
            shutil.copyfile(source, target)


@cache
def _platform() -> str:
    row = duckdb.execute("PRAGMA platform").fetchone()
    assert row is not None
    return str(row[0])
