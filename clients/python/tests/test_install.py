"""`pip install ./clients/python` works: into a throw-away venv, then imported from there with
its type information (PEP 561)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from support import PACKAGE

#: pip's words when it cannot reach an index (no network) or the index lacks setuptools.
OFFLINE = ("No matching distribution found", "Could not find a version", "Failed to establish a new connection",
           "Temporary failure in name resolution", "Network is unreachable")


class InstallTests(unittest.TestCase):
    def test_pip_install_into_a_fresh_venv(self) -> None:
        with tempfile.TemporaryDirectory(prefix="adpy-venv-") as folder:
            # A copy, so that the build leaves nothing in the source tree.
            source = shutil.copytree(PACKAGE, os.path.join(folder, "source"),
                                     ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
            venv = os.path.join(folder, "venv")
            subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", venv], check=True, timeout=300)
            python = os.path.join(venv, "bin", "python")
            environment = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PIP_REQUIRE_VIRTUALENV")}
            environment["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
            # setuptools builds a wheel by itself from 70.1 on, with the `wheel` package before.
            offline = subprocess.run(
                [python, "-c", "import importlib.util as u, sys; sys.exit(not (u.find_spec('setuptools') and "
                 "(u.find_spec('setuptools.command.bdist_wheel') or u.find_spec('wheel'))))"],
                env=environment, cwd=folder, timeout=120,
            ).returncode == 0
            command = [python, "-m", "pip", "install", "--no-deps", source]
            if offline:
                command[4:4] = ["--no-build-isolation", "--no-index"]
            result = subprocess.run(command, env=environment, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, timeout=600)
            if result.returncode != 0 and not offline and any(words in result.stdout for words in OFFLINE):
                self.skipTest("pip needs setuptools from the package index (no setuptools>=70.1 or wheel here) and "
                              "cannot reach it: " + result.stdout.strip().splitlines()[-1])
            self.assertEqual(result.returncode, 0, result.stdout)
            check = subprocess.run(
                [python, "-c", "import allocatord, os, sys\n"
                 "folder = os.path.dirname(allocatord.__file__)\n"
                 "assert os.path.realpath(folder).startswith(os.path.realpath(sys.prefix)), folder\n"
                 "assert os.path.exists(os.path.join(folder, 'py.typed'))\n"
                 "try:\n    allocatord.Client('/nonexistent/a.sock').ping()\n"
                 "except allocatord.ConnectError as error:\n    print(error)\n"],
                env=environment, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
            )
            self.assertEqual(check.returncode, 0, check.stdout)
            self.assertIn("cannot connect to allocatord at /nonexistent/a.sock", check.stdout)


if __name__ == "__main__":
    unittest.main()
