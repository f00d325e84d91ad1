"""The mail itself: Markdown rendered to the HTML part (Kibana's markdown-it with linkify), the text part
as written, bodies trimmed to `[email] maximum_body_length`, and the MIME message SMTP carries."""

from __future__ import annotations

import functools
import logging
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid

log = logging.getLogger(__name__)

# Kibana's fallback when a message renders empty.
NO_MESSAGE = "no message set"


@functools.cache
def _markdown():
    from markdown_it import MarkdownIt  # on first use: most workers never send mail

    return MarkdownIt("js-default", {"linkify": True})


def html_from_markdown(markdown: str) -> str:
    """As Kibana: the Markdown rendered (raw HTML in it escaped), or the text itself if rendering fails."""
    try:
        return _markdown().render(markdown)
    except Exception as exc:  # Kibana sends the Markdown as it is rather than no mail at all
        log.debug("could not render the email's Markdown: %s", type(exc).__name__)
        return markdown


def trimmed(connector_id: str, name: str, body: str | None, limit: int) -> str | None:
    """A body at or over `limit` characters cut to it, after Kibana's warning paragraph."""
    if not body or len(body) < limit:
        return body
    log.warning(
        'connector "%s" email parameter %s length %d exceeds [email] maximum_body_length (%d) and has been trimmed',
        connector_id, name, len(body), limit,
    )
    warning = (
        f"Your message's length of {len(body)} exceeded the {limit} bytes limit that is set for the connector "
        f'"{connector_id}" and was trimmed. You can modify the limit by increasing the value specified for the '
        "[email] maximum_body_length setting."
    )
    return f"{warning}\n\n{body[:limit]}"


def mime_message(
    *, sender: str, to: list[str], cc: list[str], reply_to: list[str] | None, subject: str, text: str, html: str
) -> EmailMessage:
    """A multipart/alternative message; bcc recipients go in the envelope only, never in a header."""
    from email import policy  # on first use: its header classes are only needed to send mail

    message = EmailMessage(policy=policy.SMTP)
    message["From"] = sender
    if to:
        message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    if reply_to:
        message["Reply-To"] = ", ".join(reply_to)
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=_domain(sender))
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def mailbox(address: str) -> str:
    """The bare address of `Name <a@b>`, as the envelope needs it."""
    found = [m for _, m in getaddresses([address]) if m]
    return found[0] if found else address.strip()


def _domain(address: str) -> str | None:
    domain = mailbox(address).rpartition("@")[2]
    return domain or None
