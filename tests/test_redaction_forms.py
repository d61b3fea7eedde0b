"""``ascii()`` and the bytes ``repr`` of a non-ASCII value are found and redacted like the value.

The output check, the isolated argument check and log redaction all ask the same
:class:`~kitaru.runtime.Redactor`; a flow shows the output check end to end.
"""

from __future__ import annotations

import base64
import uuid

import pytest

import kitaru
from kitaru import SecretLeakError
from kitaru.runtime import REDACTED, Redactor

VALUE = f"pässwörd-ünïcode-€-{uuid.uuid4().hex[:12]}"
FORMS = {
    "ascii": ascii(VALUE),
    "bytes repr": repr(VALUE.encode("utf-8")),
    "str of bytes": str(VALUE.encode("utf-8")),
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_escaped_forms_are_found_and_redacted(form: str) -> None:
    text = FORMS[form]
    assert VALUE not in text  # a form the plain value check would miss
    redactor = Redactor()
    redactor.remember(VALUE, secret="s", key="K")
    assert redactor.find_in_text(f"got {text} here") is not None
    assert redactor.find_in_object({"nested": [f"x{text}y"]}) is not None
    assert redactor.find_in_bytes(text.encode()) is not None
    redacted = redactor.redact(f"log line: {text}")
    assert redacted.count(REDACTED) == 1
    assert VALUE[-12:] not in redacted


def test_a_checkpoint_returning_ascii_of_a_secret_is_refused(unique: str) -> None:
    name = f"forms-{unique}"
    kitaru.set_secret(name, {"TOKEN": VALUE})

    @kitaru.checkpoint
    def leak() -> str:
        return ascii(kitaru.get_secret(name)["TOKEN"])

    @kitaru.flow
    def leaking() -> str:
        return leak()

    with pytest.raises(SecretLeakError):
        leaking()


def test_a_value_read_again_keeps_every_form_and_one_that_was_a_form_gets_its_own() -> None:
    redactor = Redactor()
    outer = f"outer-secret-{uuid.uuid4().hex}"
    redactor.remember(outer, secret="s", key="A")
    redactor.remember(outer, secret="s", key="A")  # read again: nothing to work out
    assert redactor.find_in_text(base64.b64encode(outer.encode()).decode()) is not None
    # A value that is already one of another value's forms (its base64) is still a
    # value of its own: its own forms are remembered when it is read.
    inner = base64.b64encode(outer.encode()).decode()
    redactor.remember(inner, secret="t", key="B")
    inner_b64 = base64.b64encode(inner.encode()).decode()
    assert redactor.find_in_text(f"x {inner_b64} y") is not None
