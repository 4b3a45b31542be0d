"""Email channel: one plain-text message per notification over SMTP (smtplib)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from plant.alarms.notify.message import Notification
from plant.events import shapley_values


def render(note: Notification, sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    a = note.alarm
    msg = EmailMessage()
    msg["Subject"] = f"plantwatch {note.event}: " + note.summary()[:180]
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    lines = [
        note.summary(),
        "",
        f"Asset:     {a['asset']} (area {a['area']}, site {note.site})",
        f"Priority:  {a['priority']}",
        f"State:     {a['state']}",
        f"Kind:      {a['kind']} / {a['source']}",
    ]
    if a.get("p_value") is not None:
        lines.append(f"p-value:   {a['p_value']:.3g} (model {a['model_version']})")
    if a.get("explanation"):
        ranked = sorted(shapley_values(a["explanation"]).items(), key=lambda kv: -kv[1])
        lines.append("Evidence:  " + ", ".join(f"{m} {v:+.2f}" for m, v in ranked))
    if a.get("members"):
        lines.append(f"Grouped:   alarms {', '.join(str(i) for i in a['members'])}")
    lines += ["", f"Open in the dashboard: {note.link}"]
    msg.set_content("\n".join(lines) + "\n")
    return msg


class EmailChannel:
    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: tuple[str, ...],
        *,
        timeout_s: float = 10.0,
        starttls: bool = False,
        user: str | None = None,
        password: str | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.sender, self.recipients = sender, recipients
        self.timeout_s = timeout_s
        self.starttls, self.user, self.password = starttls, user, password

    def send(self, note: Notification) -> None:
        msg = render(note, self.sender, self.recipients)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(msg)
