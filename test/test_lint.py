"""ament_flake8 / ament_pep257 / ament_xmllint equivalents over the whole package."""

from __future__ import annotations

import os
from pathlib import Path
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

REPO = Path(__file__).resolve().parent.parent
PY_TREES = ['edge_infer_ros', 'test', 'launch', 'tools', 'bench', 'setup.py']


def _ruff() -> list[str]:
    exe = shutil.which('ruff', path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, '-m', 'ruff']


@pytest.mark.linter
def test_flake8_and_pep257_rules_pass() -> None:
    targets = [t for t in PY_TREES if (REPO / t).exists()]
    result = subprocess.run(
        [*_ruff(), 'check', '--no-cache', *targets],
        cwd=REPO, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.linter
def test_package_xml_is_format_3_and_names_the_package() -> None:
    root = ET.parse(REPO / 'package.xml').getroot()
    assert root.tag == 'package'
    assert root.get('format') == '3'
    assert root.findtext('name') == 'edge_infer_ros'
    assert root.find('export/build_type').text == 'ament_python'
    depends = {e.text for e in root.iter('exec_depend')}
    for needed in ('rclpy', 'sensor_msgs', 'vision_msgs', 'lifecycle_msgs', 'diagnostic_msgs'):
        assert needed in depends


@pytest.mark.linter
def test_every_xml_file_is_well_formed() -> None:
    for path in REPO.rglob('*.xml'):
        if any(part.startswith(('.venv', 'build')) for part in path.relative_to(REPO).parts):
            continue
        ET.parse(path)


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which('lint-imports', path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip('import-linter is not installed (requirements/test.txt)')
    return subprocess.run([exe, '--no-cache'], cwd=cwd, capture_output=True, text=True,
                          check=False, env={**os.environ, 'PYTHONPATH': str(cwd)})


@pytest.mark.linter
def test_import_layering_contracts_are_kept() -> None:
    result = _lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '0 broken' in result.stdout


@pytest.mark.linter
def test_a_core_module_importing_rclpy_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copytree(REPO / 'edge_infer_ros', tmp_path / 'edge_infer_ros',
                    ignore=shutil.ignore_patterns('__pycache__'))
    shutil.copy(REPO / '.importlinter', tmp_path / '.importlinter')
    preprocess = tmp_path / 'edge_infer_ros' / 'imaging' / 'preprocess.py'
    preprocess.write_text(preprocess.read_text() + '\nimport rclpy  # noqa\n')
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert 'edge_infer_ros.imaging.preprocess -> rclpy' in result.stdout
