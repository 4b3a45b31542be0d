"""The alarm engine: evidence in (health, context, data quality, silence), ISA-18.2 alarms out.

One instance per plant, hosted by ``plantwatch serve`` and replayed by ``evaluate``. It is the only
writer of the journal. Evidence-driven changes carry the evidence's own time; operator actions and
:meth:`AlarmEngine.tick` use ``clock`` (replaceable, UTC ns). All public methods are thread-safe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from plant.alarms.actions import OperatorActions
from plant.alarms.flood import FloodDetector
from plant.alarms.journal import Journal
from plant.alarms.lifecycle import CHAIN, Lifecycle
from plant.alarms.model import (
    FLOOD_ASSET,
    SYSTEM_AREA,
    Alarm,
    AlarmKind,
    DataQualityKind,
)
from plant.alarms.notify.message import Notifier
from plant.alarms.persistence import Change, Persistence
from plant.alarms.priority import PriorityRule
from plant.alarms.silence import SilenceWatch
from plant.config import PlantConfig
from plant.events import HealthEvent, shapley_values
from plant.readings import MachineState

log = logging.getLogger(__name__)
NS = 1_000_000_000


class AlarmEngine(Lifecycle, OperatorActions):
    def __init__(
        self,
        config: PlantConfig,
        journal_path: str | Path | None,
        *,
        clock: Callable[[], int] = time.time_ns,
        notifier: Notifier | None = None,
        batch: int = 1,
    ) -> None:
        self.config = config
        self.settings = config.alarms
        self.site = config.plant.site
        self.clock = clock
        self.notifier = notifier
        self.journal = Journal(journal_path, batch)
        self._lock = threading.RLock()
        self._area = {a.id: a.area for a in config.resolved_assets}
        self._sensor_modality = {
            (a.id, s.id): s.modality.value for a in config.resolved_assets for s in a.sensors
        }
        self.priority = PriorityRule(self.settings.priority)
        self.flood = FloodDetector(self.settings.flood)
        self.silence = SilenceWatch(config)
        self.latest_health: dict[str, HealthEvent] = {}
        self.baseline_listeners: list[Callable[[str, int], None]] = []
        self.activations = 0  # alarms raised (first raise or re-raise), all kinds
        self.machine_activations = 0
        self._persist: dict[str, Persistence] = {}
        self._suppressed: set[str] = set()  # assets not running (stopped, starting)
        self.transient_events = 0  # health events not counted: load transient (TransientConfig)
        self.uncorroborated_events = 0  # low p-values that only the operator notes made low
        self._transient_until: dict[str, int] = {}  # asset -> end of its transient's hold (ns)
        self._maintenance: set[str] = set()
        self._baseline_ns: dict[str, int] = {}
        self._dq: dict[str, dict[str, set[str]]] = {}  # asset -> modality -> faulty sensors
        self._alarms: dict[int, Alarm] = {}
        self._open: dict[tuple[str, str, str], Alarm] = {}
        self._unknown_assets: set[str] = set()
        self._restore()

    # -- restart ---------------------------------------------------------------------------
    def _restore(self) -> None:
        for alarm in self.journal.load_alarms():
            self._alarms[alarm.id] = alarm
            if not alarm.closed:
                self._open[alarm.key] = alarm
                if alarm.kind is AlarmKind.FLOOD and alarm.active:
                    self.flood.flooding.add(alarm.area)
                if alarm.kind is AlarmKind.MACHINE and alarm.active:
                    self._persistence(alarm.asset).assume_active()
                if alarm.suppressed:  # until the machine is reported running again
                    self._suppressed.add(alarm.asset)
        saved = self.journal.get_meta("maintenance")
        self._maintenance = set(saved.split(",")) - {""} if saved else set()
        self._next_id = max(self._alarms, default=0) + 1
        if self._alarms:
            log.info("restored %d alarms (%d open)", len(self._alarms), len(self._open))

    # -- evidence --------------------------------------------------------------------------
    def on_health(self, ev: HealthEvent) -> None:
        """One scored window. Hot path: no I/O unless an alarm changes."""
        with self._lock:
            asset = ev.asset
            self.latest_health[asset] = ev
            self.silence.health_seen(ev.ts_ns)
            if self.silence.chain_silent:
                self._clear_chain(ev.ts_ns)
            if asset not in self._area:
                if asset not in self._unknown_assets:
                    self._unknown_assets.add(asset)
                    log.warning("health event for asset %s that is not in the plant config", asset)
                return
            if asset in self._suppressed or asset in self._maintenance:
                return  # suppression by design: a stopped machine's evidence counts for nothing
            if self._in_transient(asset, ev):
                self.transient_events += 1  # ... nor does a machine's during a load transient
                return
            if ev.ts_ns < self._baseline_ns.get(asset, 0) or self._sensor_fault_explains(ev):
                return
            p = self._persist.get(asset) or self._persistence(asset)
            change = p.update(self._evidence_p(ev), ev.ts_ns)
            if change is Change.RAISE:
                self._raise_machine(ev)
            elif change is Change.CLEAR:
                self._clear_machine(asset, ev)
            elif p.active:
                self._escalate(ev)
            if self.journal.batch == 1:
                self.journal.flush()

    def _evidence_p(self, ev: HealthEvent) -> float:
        """The p-value the persistence rule counts: the window's, unless its sensors alone are
        not even weakly abnormal (``notes_corroborate_alpha``); then the sensors' own. Operator
        notes corroborate sensor evidence but never raise alone: some are wrong (a knock on a
        pump with no gearbox), and a note stays in every window of its look-back, so k-of-m
        persistence does not filter it as it filters a noisy score."""
        sensors = ev.p_value_sensors
        if sensors is None or sensors < self.settings.persistence.notes_corroborate_alpha:
            return ev.p_value
        if ev.p_value < self.settings.persistence.alpha_off:
            self.uncorroborated_events += 1
        return max(ev.p_value, sensors)

    def _in_transient(self, asset: str, ev: HealthEvent) -> bool:
        """Whether ``ev`` falls in a load transient of its machine ([alarms.transient]): its load
        moved by more than ``load_range`` over the window's thermal history, or did so at most
        ``hold_s`` before (the probes lag the load by their time constants)."""
        rule = self.settings.transient
        if rule.load_range <= 0:
            return False
        if ev.load_range is not None and ev.load_range > rule.load_range:
            self._transient_until[asset] = ev.ts_ns + int(rule.hold_s * NS)
            return True
        return ev.ts_ns <= self._transient_until.get(asset, -1)

    def may_use_explanation(self, asset: str, low: int = 1, ts_ns: int | None = None) -> bool:
        """Whether ``low`` more p-values below alpha for ``asset`` could raise, update or be
        judged against a machine alarm, read from the state before them (SV: the scorer
        explains only those windows; an explanation costs ~50 ms of CPU). True when the asset
        has a standing condition (active: the alarm is updated), when ``low`` more could
        complete k of m (a raise; merging into a slot never adds more than one), or when a
        sensor fault is open (the explanation decides which modality the evidence is from);
        False for a suppressed or maintained asset and for one not in the plant. ``ts_ns``
        (the earliest of those windows): in the persistence slot already counted, a low
        p-value merges into it and cannot add to k of m."""
        with self._lock:
            if asset not in self._area or asset in self._suppressed or asset in self._maintenance:
                return False
            if self._dq.get(asset):
                return True
            p = self._persist.get(asset)
            if p is None:
                return low >= self.settings.persistence.k
            if p.active or p.below_alpha >= p.k:
                return True
            if ts_ns is not None and ts_ns // p.slot_ns <= p.last_slot:
                low = 0  # merges into the last slot (or is late): no new slot below alpha
            return p.below_alpha + low >= p.k

    def _sensor_fault_explains(self, ev: HealthEvent) -> bool:
        """A sensor fault is a data-quality alarm, never a machine alarm."""
        faulty = self._dq.get(ev.asset)
        if not faulty:
            return False
        shapley = shapley_values(ev.explanation)
        if shapley:
            return max(shapley, key=shapley.__getitem__) in faulty
        return any(ev.present.get(m, False) for m in faulty)

    def on_context(self, asset: str, state: MachineState | str, ts_ns: int) -> None:
        """Machine state from process context: not running suppresses machine alarms."""
        state = MachineState(state)
        with self._lock:
            running = state is MachineState.RUNNING
            was = asset not in self._suppressed
            if running == was:
                return
            if running:
                self._suppressed.discard(asset)
            else:
                self._suppressed.add(asset)
                self._reset_persistence(asset)
            for alarm in self._asset_alarms(asset, AlarmKind.MACHINE):
                before = alarm.state
                alarm.suppressed = not running
                if not running:  # its condition is re-established from fresh evidence later
                    alarm.active = False
                action = "unsuppress" if running else "suppress"
                self._record(alarm, action, before, ts_ns, comment=f"machine {state.value}")
            self.journal.flush()

    def on_data_quality(
        self, asset: str, sensor: str, kind: DataQualityKind | str, ts_ns: int, active: bool = True
    ) -> None:
        """A sensor fault (stuck, saturated, dead) raised or cleared by data validation."""
        kind = DataQualityKind(kind)
        modality = self._sensor_modality.get((asset, sensor), "unknown")
        with self._lock:
            faulty = self._dq.setdefault(asset, {})
            source = f"{sensor}/{kind.value}"
            if active:
                faulty.setdefault(modality, set()).add(source)
                self._reset_persistence(asset)  # evidence gathered from a faulty sensor
                self._raise(AlarmKind.DATA_QUALITY, asset, source, ts_ns)
            else:
                faulty.get(modality, set()).discard(source)
                if not faulty.get(modality):
                    faulty.pop(modality, None)
                self._clear(AlarmKind.DATA_QUALITY, asset, source, ts_ns)
            self.journal.flush()

    def on_reading(self, asset: str, sensor: str, ts_ns: int) -> None:
        """A reading arrived (any modality): feeds silent-sensor detection."""
        with self._lock:
            if self.silence.reading_seen(asset, sensor, ts_ns):
                self._clear(AlarmKind.SILENT_SENSOR, asset, sensor, ts_ns)
                self.journal.flush()

    def on_silence(self, component: str, silent: bool, ts_ns: int | None = None) -> None:
        """A component of the monitoring chain went silent (or back): e.g. the scorer offline."""
        ts_ns = self.clock() if ts_ns is None else ts_ns
        with self._lock:
            if silent:
                self._raise(AlarmKind.SILENT_CHAIN, component, component, ts_ns, SYSTEM_AREA)
            else:
                self._clear(AlarmKind.SILENT_CHAIN, component, component, ts_ns)
            self.journal.flush()

    def tick(self, now_ns: int | None = None, *, silence: bool = True) -> None:
        """Time-driven checks: shelve expiry, end of floods, silent sensors and chain."""
        now_ns = self.clock() if now_ns is None else now_ns
        with self._lock:
            for alarm in list(self._open.values()):
                if alarm.shelved_until_ns is not None and alarm.shelved_until_ns <= now_ns:
                    self._unshelve(alarm, now_ns, "engine", "shelve expired", "shelve_expired")
            for asset, sensor in self.silence.silent_sensors(now_ns) if silence else ():
                self._raise(AlarmKind.SILENT_SENSOR, asset, sensor, now_ns)
            reason = self.silence.chain_newly_silent(now_ns) if silence else None
            if reason:
                self._raise(AlarmKind.SILENT_CHAIN, CHAIN, CHAIN, now_ns, SYSTEM_AREA, why=reason)
            for area in self.flood.ended(now_ns):
                self._clear(AlarmKind.FLOOD, FLOOD_ASSET, area, now_ns)
            self.journal.flush()

    def flush(self) -> None:
        with self._lock:
            self.journal.flush()

    def close(self) -> None:
        with self._lock:
            self.journal.close()
