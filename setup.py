"""ament_python build of edge_infer_ros (``colcon build``, or ``scripts/setup_env.sh``)."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = 'edge_infer_ros'

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(include=[PACKAGE, f'{PACKAGE}.*']),
    package_data={PACKAGE: ['py.typed']},
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
        (f'share/{PACKAGE}/launch', glob('launch/*.launch.py')),
        (f'share/{PACKAGE}/config', glob('config/*.yaml') + glob('config/*.xml')),
        (f'share/{PACKAGE}/models', glob('models/*.onnx') + glob('models/*.md')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='edge_infer_ros maintainers',
    maintainer_email='maintainers@edge-infer-ros.dev',
    description='ONNX Runtime + TensorRT object detection as a ROS 2 lifecycle node.',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
    entry_points={
        'console_scripts': [
            f'detector_node = {PACKAGE}.ros.entry:detector_node',
            f'synthetic_camera = {PACKAGE}.demo.synthetic_camera:main',
            f'build_engine = {PACKAGE}.tools.build_engine:main',
            f'evaluate_bag = {PACKAGE}.eval.evaluate_bag:main',
            f'calibrate_int8 = {PACKAGE}.eval.calibrate_int8:main',
            f'demo = {PACKAGE}.demo.run:main',
        ],
    },
)
