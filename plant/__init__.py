"""plantwatch's domain: assets, sensors, readings, topics, physics, the simulator and alarms.

This package imports nothing else of plantwatch, except for the command-line composition root
in :mod:`plant.cli`, which wires the services together.
"""

WIRE_VERSION = 1
