"""Build hook: the opt-in compiled build.

``TYPEDPUBSUB_COMPILE=1 pip install .`` compiles the modules listed in
``src/typedpubsub/_native.py`` with mypyc and ships them as native extensions next to their
sources, in a platform wheel. Without the variable (or with ``0``) the hook does nothing and asks
for nothing: the wheel is pure Python and the build needs neither mypy nor a C compiler.
Editable installs are always pure Python.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

ENV_VAR = "TYPEDPUBSUB_COMPILE"
# Pinned: the generated C depends on the mypyc version; change it together with a CI run.
COMPILER = ["mypy[mypyc]==2.4.1", "setuptools>=70"]
# Imported by the compiled modules for annotations only (under TYPE_CHECKING).
TYPE_ONLY = ["opentelemetry-api>=1.27"]


def compile_requested() -> bool:
    value = os.environ.get(ENV_VAR, "0")
    if value not in ("0", "1"):
        raise ValueError(f"{ENV_VAR} must be 0 or 1, got {value!r}")
    return value == "1"


def compiled_modules(root: Path) -> tuple[str, ...]:
    # Executed alone (it imports nothing from the package): the build env may lack pydantic.
    namespace: dict[str, Any] = {}
    source = root / "src" / "typedpubsub" / "_native.py"
    exec(compile(source.read_text(), str(source), "exec"), namespace)
    modules: tuple[str, ...] = namespace["COMPILED_MODULES"]
    return modules


class CompileHook(BuildHookInterface):  # type: ignore[misc]  # hatchling ships no types
    PLUGIN_NAME = "custom"

    def dependencies(self) -> list[str]:
        if not compile_requested():
            return []
        # The runtime dependencies too: mypyc type-checks what the compiled modules import,
        # and the types the hooks they hold name (OpenTelemetry's, for telemetry.instrument).
        return [*COMPILER, *self.metadata.core.dependencies, *TYPE_ONLY]

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if not compile_requested():
            return
        if version == "editable":
            raise ValueError(
                f"{ENV_VAR}=1 needs a regular install (pip install .): editable installs "
                "run the pure-Python sources"
            )
        self._workdir = Path(tempfile.mkdtemp(prefix="typedpubsub-mypyc-"))
        root = Path(self.root)
        sources = [
            str(root / "src" / Path(*name.split(".")).with_suffix(".py"))
            for name in compiled_modules(root)
        ]
        for path, destination in self._compile(root, sources).items():
            build_data["force_include"][path] = destination
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def _compile(self, root: Path, sources: list[str]) -> dict[str, str]:
        """Compile ``sources`` to extensions; map each built file to its place in the wheel."""
        from mypyc.build import mypycify
        from setuptools import Distribution

        generated = self._workdir / "c"
        built = self._workdir / "lib"
        # The project's own mypy settings (strict), from the project root.
        config = ["--config-file", str(root / "mypy.ini")]
        cwd = os.getcwd()
        os.chdir(root)
        try:
            extensions = mypycify(
                [*config, *sources],
                opt_level="3",
                debug_level="0",
                target_dir=str(generated),
                group_name="typedpubsub",
            )
            distribution = Distribution({"ext_modules": extensions, "script_name": "hatch_build"})
            command = distribution.get_command_obj("build_ext")
            command.build_lib = str(built)
            command.build_temp = str(self._workdir / "tmp")
            distribution.run_command("build_ext")
        finally:
            os.chdir(cwd)
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        found = {
            str(path): path.relative_to(built).as_posix() for path in built.rglob(f"*{suffix}")
        }
        if len(found) < len(sources):
            raise RuntimeError(f"mypyc built {sorted(found.values())} for {sources}")
        print(f"typedpubsub: compiled {len(sources)} modules with mypyc", file=sys.stderr)
        return found

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        workdir = getattr(self, "_workdir", None)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
