"""The cameras' topics as the graph sees them: valid, and distinct once resolved.

``image_topics: [cam/image_raw, /cam/image_raw]`` lists one topic twice in a node at ``/``: both
resolve to ``/cam/image_raw``, and every image would be inferred and published twice. Names are
therefore compared after the node's namespace, ``~`` and remaps are applied, and a name ROS
cannot use is reported against the parameter that holds it, not against a topic derived from it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from edge_infer_ros.errors import ConfigError, shown
from edge_infer_ros.streams import CameraPlan

__all__ = ['check_camera_topics']


def _resolved(resolve: Callable[[str], str], topic: str, source: str) -> str:
    try:
        return resolve(topic)
    except Exception as err:  # noqa: BLE001 - rclpy raises RCLError or InvalidTopicNameException
        reason = str(err).split('\n')[0].split(', at ')[0].removeprefix('failed to resolve name: ')
        msg = (f'parameter image_topics has {shown(source)}, which is not a valid ROS topic name '
               f'({reason}); use names such as camera/image_raw')
        raise ConfigError(msg) from err


def check_camera_topics(
    topics: Sequence[str], plans: Sequence[CameraPlan], resolve: Callable[[str], str],
) -> None:
    """Check that every camera's input and output topics are valid and none is shared.

    Args:
        topics: the ``image_topics`` parameter, in the order ``plans`` were made from it.
        plans: the cameras planned from it.
        resolve: the node's ``resolve_topic_name``.

    Raises:
        ConfigError: naming ``image_topics``, the offending entries and what to change.
    """
    inputs: dict[str, str] = {}
    outputs: dict[str, str] = {}
    for source, plan in zip(topics, plans, strict=True):
        image = _resolved(resolve, plan.image_topic, source)
        if image in inputs:
            msg = (f'parameter image_topics lists {shown(inputs[image])} and {shown(source)}, '
                   f'which are the same topic {image!r} for this node; list each camera once')
            raise ConfigError(msg)
        inputs[image] = source
        for output in (plan.detections_topic, plan.debug_topic):
            name = _resolved(resolve, output, source)
            if name in outputs:
                msg = (f'parameter image_topics lists {shown(outputs[name])} and '
                       f'{shown(source)}, whose outputs would share {name!r}; put the cameras in '
                       'different namespaces (front/image_raw, rear/image_raw)')
                raise ConfigError(msg)
            outputs[name] = source
