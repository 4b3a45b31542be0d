"""Alarm priority from severity (how bad: health, p-value) and urgency (how fast it progresses).

ISA-18.2 asks for priorities set by the consequence of inaction and the time to respond. Here
severity is read from the health score and the conformal p-value, urgency from the fault class
(lubrication starvation runs to failure in hours, corrosion in months), combined in a matrix.
"""

from __future__ import annotations

from plant.alarms.model import AlarmKind, Priority
from plant.config.alarms import PriorityConfig

# severity 0..2 x urgent? -> priority
_MATRIX: dict[tuple[int, bool], Priority] = {
    (0, False): Priority.LOW,
    (0, True): Priority.MEDIUM,
    (1, False): Priority.MEDIUM,
    (1, True): Priority.HIGH,
    (2, False): Priority.HIGH,
    (2, True): Priority.CRITICAL,
}

# Fixed priorities of the alarms that do not come from the model.
KIND_PRIORITY: dict[AlarmKind, Priority] = {
    AlarmKind.DATA_QUALITY: Priority.LOW,
    AlarmKind.SILENT_SENSOR: Priority.MEDIUM,
    AlarmKind.SILENT_CHAIN: Priority.HIGH,
    AlarmKind.FLOOD: Priority.HIGH,
}


class PriorityRule:
    def __init__(self, config: PriorityConfig) -> None:
        self.config = config
        self.urgent = frozenset(config.urgent_faults)

    def severity(self, health: float, p_value: float) -> int:
        c = self.config
        if health < c.critical_health_below:
            return 2
        if health < c.high_health_below or p_value < c.severe_p_below:
            return 1
        return 0

    def machine(self, health: float, p_value: float, fault_class: str) -> Priority:
        return _MATRIX[(self.severity(health, p_value), fault_class in self.urgent)]
