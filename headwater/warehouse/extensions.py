"""DuckDB extensions from their pip packages, never from the internet.

`INSTALL 'path'` copies a package's signed binary into the project's extension directory;
every connection then points `extension_directory` there and disables auto-install, so a
missing extension fails with a clear message instead of a download attempt.
"""

from __future__ import annotations

import importlib.util
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


def connection_config(extension_dir: Path) -> dict[str, str | bool]:
    """DuckDB settings that make extensions load only from `extension_dir`."""
    return {
        "extension_directory": str(extension_dir),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": True,
    }


def ensure_extensions(extension_dir: Path) -> None:
    """Install the packaged extensions into `extension_dir` unless already there."""
    platform_dir = extension_dir / f"v{duckdb.__version__}"
    missing = [
        name
        for name in EXTENSIONS
        if not any(platform_dir.glob(f"*/{name}.duckdb_extension"))
    ]
    if not missing:
        return
    extension_dir.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(config=connection_config(extension_dir)) as conn:
        for name in missing:
            conn.execute(f"INSTALL '{packaged_extension_path(name)}'")
