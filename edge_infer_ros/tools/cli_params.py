"""Command-line pieces shared by the offline tools: the node's parameters file plus overrides.

``-p name:=value`` follows ``ros2 run ... --ros-args -p``: the value is read as YAML, so
``-p precision:=fp32``, ``-p confidence_threshold:=0.4`` and ``-p providers:=[cpu]`` all work.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import yaml

from edge_infer_ros.errors import ConfigError
from edge_infer_ros.parameters import load_params_file, validate_params

__all__ = ['add_params_arguments', 'load_params', 'parse_overrides']


def add_params_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--params-file``, ``--node-name`` and ``-p/--param``."""
    parser.add_argument('--params-file', help="the node's parameters YAML (default: defaults)")
    parser.add_argument('--node-name', help='node whose section of the parameters file to use')
    parser.add_argument('-p', '--param', action='append', default=[], metavar='NAME:=VALUE',
                        help='override one parameter, e.g. -p precision:=fp32 (repeatable)')


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """Turn ``name:=value`` strings into parameter values (YAML-typed).

    Raises:
        ConfigError: an item is not of the form name:=value.
    """
    out = {}
    for item in items:
        name, sep, text = item.partition(':=')
        if not sep or not name.strip():
            msg = f'parameter override {item!r} is not of the form name:=value'
            raise ConfigError(msg)
        try:
            out[name.strip()] = yaml.safe_load(text) if text.strip() else ''
        except yaml.YAMLError as err:
            msg = f'parameter override {item!r} has a value that is not YAML: {err}'
            raise ConfigError(msg) from err
    return out


def load_params(args: argparse.Namespace) -> dict[str, Any]:
    """The parameters file's values with the overrides applied, names and types checked.

    Raises:
        ConfigError: unreadable file, unknown parameter or bad value.
    """
    values = load_params_file(args.params_file, args.node_name) if args.params_file else {}
    values.update(parse_overrides(args.param))
    validate_params(values, partial=True)
    return values
