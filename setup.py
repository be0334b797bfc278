"""Package discovery; the metadata and dependencies are in setup.cfg.

The import namespace agent_r1 maps onto the top-level folders (their short
names are too generic to be installed as top-level packages). Every package
under each folder is found here, so a new subpackage cannot be left out of
the wheel by a hand-kept list.
"""

from setuptools import find_packages, setup

FOLDERS = ("envs", "tools", "trainer", "benchmarks")

package_dir = {f"agent_r1.{folder}": folder for folder in FOLDERS}
packages = [f"agent_r1.{folder}{'.' + sub if sub else ''}"
            for folder in FOLDERS for sub in ["", *find_packages(folder)]]

setup(package_dir=package_dir, packages=packages)
