"""Command-line pieces shared by the offline tools: the node's parameters file plus overrides.

``-p name:=value`` follows ``ros2 run ... --ros-args -p``: the value is read as YAML, so
``-p precision:=fp32``, ``-p confidence_threshold:=0.4`` and ``-p providers:=[cpu]`` all work.
``-r from:=to`` follows ``--ros-args -r``: with ``--node-name /ns/name`` it gives a tool the
node's names (``naming.NodeNames``), so topics are named exactly as the live node named them.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import yaml

from edge_infer_ros.errors import ConfigError
from edge_infer_ros.naming import NodeNames
from edge_infer_ros.parameters import load_params_file, validate_params

__all__ = [
    'add_naming_arguments',
    'add_params_arguments',
    'load_params',
    'node_names',
    'parse_overrides',
]


def add_params_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--params-file``, ``--node-name`` and ``-p/--param``."""
    parser.add_argument('--params-file', help="the node's parameters YAML (default: defaults)")
    parser.add_argument('--node-name', help='node whose section of the parameters file to use '
                        '(with its namespace, e.g. /front/detector)')
    parser.add_argument('-p', '--param', action='append', default=[], metavar='NAME:=VALUE',
                        help='override one parameter, e.g. -p precision:=fp32 (repeatable)')


def add_naming_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``-r/--remap``: the node's remaps, so outputs get the node's topic names."""
    parser.add_argument('-r', '--remap', action='append', default=[], metavar='FROM:=TO',
                        help="the node's remap, as with --ros-args -r (repeatable), e.g. "
                             '-r image_raw:=/cam/image_raw; with --node-name /ns/name the '
                             'topics are named as the live node named them')


def node_names(args: argparse.Namespace) -> NodeNames | None:
    """The node's names from ``--node-name`` and ``-r``; None when neither was given.

    Raises:
        ConfigError: a malformed remap rule.
    """
    if not args.node_name and not args.remap:
        return None
    return NodeNames.parse(args.node_name, args.remap)


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
