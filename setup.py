"""Map the repository's top-level folders into the one ``labpilot`` namespace.

The design keeps ``agent/ drivers/ planners/ protocols/ simulators/`` visible
at the repository root, but an installed labpilot must not put five generic
top-level packages into site-packages. Each folder (and every package below
it) is installed as ``labpilot.<folder>...``; metadata lives in
``pyproject.toml``. Computing the list here means a new subpackage is picked
up without editing a hand-kept list.
"""

from setuptools import find_packages, setup

FOLDERS = ("agent", "drivers", "planners", "protocols", "simulators")

packages = ["labpilot", *find_packages(include=["labpilot.*"])]  # labpilot.testing, the driver authors' toolkit
package_dir = {"labpilot": "labpilot"}
for folder in FOLDERS:
    for pkg in find_packages(include=[folder, f"{folder}.*"]):
        packages.append(f"labpilot.{pkg}")
        package_dir[f"labpilot.{pkg}"] = pkg.replace(".", "/")

# Files that are not Python but ship inside the package: the dashboard's
# templates, style sheet and script (lab PCs are often offline: no CDN).
package_data = {"labpilot.agent.web": ["templates/*.html", "static/*.js", "static/*.css"]}

setup(packages=packages, package_dir=package_dir, package_data=package_data, include_package_data=True)
