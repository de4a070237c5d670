"""When recording was paused: `floyo agent pause`/`resume` log each switch with its time in the state folder.

The flag file ``paused`` says whether recording is paused now; the log ``pause.log`` says whether it was paused
at a given moment, so an event is judged by when it happened, not by when the agent got round to deciding it
(a file written just after `resume` is recorded, one written just before it is not).
"""

from __future__ import annotations

import bisect
import os
import time
from pathlib import Path

from agent.coalesce import MTIME_LAG
from agent.secure import private_file

LOG_NAME = "pause.log"
FLAG_NAME = "paused"


class PauseLog:
    """The pause switches of one state folder, re-read whenever the log file changes."""

    def __init__(self, state_dir: Path) -> None:
        self.log_path = state_dir / LOG_NAME
        self.flag_path = state_dir / FLAG_NAME
        self._seen: tuple[int, int] | None = None
        self._times: list[float] = []
        self._paused: list[bool] = []

    def switch(self, paused: bool) -> None:
        """Pause or resume now: the log line first, then the flag (a reader that sees the flag sees the line)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        line = f"{'pause' if paused else 'resume'} {time.time():.6f}\n".encode()
        fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)  # one write of a short line: appended whole
        finally:
            os.close(fd)
        if paused:
            private_file(self.flag_path)
        else:
            self.flag_path.unlink(missing_ok=True)
        # file times come from the kernel's coarse clock and lag by up to MTIME_LAG: after it, whatever the
        # person writes once this returns has a modification time after the switch
        time.sleep(MTIME_LAG)

    def paused_now(self) -> bool:
        """Whether recording is paused at this moment."""
        return self.flag_path.exists()

    def _reload(self) -> None:
        try:
            st = os.stat(self.log_path)
        except FileNotFoundError:
            self._seen, self._times, self._paused = None, [], []
            return
        if self._seen == (st.st_size, st.st_mtime_ns):
            return
        times: list[float] = []
        states: list[bool] = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            word, _, when = line.partition(" ")
            try:
                at = float(when)
            except ValueError:
                continue  # a torn or foreign line: the switches around it still count
            if word in ("pause", "resume") and (not times or at >= times[-1]):
                times.append(at)
                states.append(word == "pause")
        self._seen, self._times, self._paused = (st.st_size, st.st_mtime_ns), times, states

    def paused_at(self, wall: float) -> bool:
        """Whether recording was paused at ``wall`` (seconds since the epoch)."""
        self._reload()
        i = bisect.bisect_right(self._times, wall)
        if i:
            return self._paused[i - 1]
        if not self._times and self.flag_path.exists():  # a flag without a log (made by an older agent)
            return wall >= self.flag_path.stat().st_mtime
        return False

    def paused_by_log(self) -> bool:
        """Whether the last switch in the log paused recording (the flag when there is no log).

        The log, not the flag: ``switch`` writes the line before it changes the flag, so a reader between the two
        would take a resume for a pause that never ends."""
        self._reload()
        return self._paused[-1] if self._paused else self.paused_now()

    def last_switch(self) -> float | None:
        """When recording was last paused or resumed."""
        self._reload()
        return self._times[-1] if self._times else None
