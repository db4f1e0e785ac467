"""ROS names as the node resolves them, for the offline tools: namespace, node name, remaps.

The node subscribes and publishes under relative names (``streams.plan_cameras``); rcl turns
each into a fully qualified name: a relative name goes under the node's namespace, ``~`` under
the node's own name, and then the first remap rule whose source expands to the same name
replaces it (rules prefixed ``node:`` only for that node). ``ros2 launch`` hands a node its
namespace (``namespace:=``, ``PushRosNamespace``) and remaps (``SetRemap``, ``remappings``) that
way. The offline tools take the same ``--node-name /ns/name`` and ``-r from:=to`` to name their
inputs and outputs exactly as the node did; ``test/test_naming.py`` checks this module against
rclpy's own resolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from edge_infer_ros.errors import ConfigError
from edge_infer_ros.streams import CameraPlan

__all__ = ['NodeNames', 'resolve_cameras']


def _join(namespace: str, name: str) -> str:
    return f'{namespace.rstrip("/")}/{name}'


@dataclass(frozen=True)
class NodeNames:
    """A node's namespace and name and the topic remaps it was started with."""

    namespace: str = '/'
    name: str = 'detector'
    remaps: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, node_name: str | None, remaps: Sequence[str] = ()) -> NodeNames:
        """From ``--node-name`` (``detector``, ``/detector`` or ``/ns/detector``) and ``-r`` rules.

        ``__ns:=`` and ``__node:=`` rules set the namespace and the name, as with ``--ros-args``.

        Raises:
            ConfigError: a rule is not ``from:=to`` or a name is empty.
        """
        namespace, _, name = (node_name or 'detector').rpartition('/')
        names = cls(namespace or '/', name)
        rules: list[tuple[str, str]] = []
        for rule in remaps:
            source, sep, target = rule.partition(':=')
            if not sep or not source or not target:
                msg = f'remap rule {rule!r} is not of the form from:=to (as with --ros-args -r)'
                raise ConfigError(msg)
            node, colon, source = source.rpartition(':')
            if colon and node != names.name:
                continue  # a rule for another node
            if source == '__ns':
                names = replace(names, namespace=target if target.startswith('/') else
                                f'/{target}')
            elif source in ('__node', '__name'):
                names = replace(names, name=target)
            else:
                rules.append((source, target))
        if not names.name:
            msg = f'node name {node_name!r} has no name after its namespace'
            raise ConfigError(msg)
        return replace(names, remaps=tuple(rules))

    @property
    def fully_qualified(self) -> str:
        """``/ns/name``."""
        return _join(self.namespace, self.name)

    def expand(self, topic: str) -> str:
        """``topic`` made absolute in the node's namespace (``~`` is the node itself)."""
        if topic.startswith('/'):
            return topic
        if topic == '~' or topic.startswith('~/'):
            return self.fully_qualified + topic[1:]
        return _join(self.namespace, topic)

    def resolve(self, topic: str) -> str:
        """The name the node really uses for ``topic``: expanded, then remapped."""
        expanded = self.expand(topic)
        for source, target in self.remaps:
            if self.expand(source) == expanded:
                return self.expand(target)
        return expanded


def resolve_cameras(plans: Sequence[CameraPlan], names: NodeNames) -> tuple[CameraPlan, ...]:
    """``plans`` with every topic replaced by the name the node uses for it."""
    return tuple(replace(plan, image_topic=names.resolve(plan.image_topic),
                         detections_topic=names.resolve(plan.detections_topic),
                         debug_topic=names.resolve(plan.debug_topic)) for plan in plans)
