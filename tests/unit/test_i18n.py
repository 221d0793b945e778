from __future__ import annotations

from qorgau.i18n import gettext, negotiate


def test_language_negotiation_prefers_explicit_then_quality() -> None:
    assert negotiate("ru-RU,ru;q=0.9,en;q=0.5") == "ru"
    assert negotiate("de, kk;q=0.8, ru;q=0.9") == "ru"
    assert negotiate("de,fr") == "en"
    assert negotiate("ru", explicit="kk") == "kk"
    assert negotiate(None) == "en"


def test_messages_are_translated_with_placeholders() -> None:
    assert (
        gettext("ru", "Too long: at most {max_length} characters.", max_length=5)
        == "Слишком длинно: не более 5 символов."
    )
    assert "5" in gettext("kk", "Too long: at most {max_length} characters.", max_length=5)
    assert gettext("en", "Sign in to do this.") == "Sign in to do this."
    assert gettext("ru", "Sign in to do this.") != "Sign in to do this."
    assert gettext("kk", "Sign in to do this.") != gettext("ru", "Sign in to do this.")


def test_every_message_in_the_code_is_translated_into_russian_and_kazakh() -> None:
    """Extract the marked strings from the source as the catalogue tooling does, so a new
    message without a translation fails here instead of showing English to a Kazakh user."""
    from pathlib import Path

    from babel.messages.extract import extract_from_dir

    from qorgau.i18n import _catalog

    src = Path(__file__).resolve().parents[2] / "src" / "qorgau"
    keywords = {"t": None, "N_": None, "gettext": (2,)}
    found = {
        msg
        for _, _, msg, _, _ in extract_from_dir(str(src), keywords=keywords)
        if isinstance(msg, str)
    }
    # The web interface's templates mark their text with _("..."), extracted the same way.
    in_templates = {
        msg
        for _, _, msg, _, _ in extract_from_dir(
            str(src / "web" / "templates"),
            method_map=[("**.html", "jinja2.ext:babel_extract")],
            keywords={"_": None},
        )
        if isinstance(msg, str)
    }
    assert len(in_templates) > 20
    found |= in_templates
    assert len(found) > 40
    for lang in ("ru", "kk"):
        missing = sorted(found - set(_catalog(lang)))
        assert not missing, f"{lang} catalogue lacks: {missing}"
