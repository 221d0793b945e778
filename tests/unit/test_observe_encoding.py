from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from qorgau.errors import InvalidInput
from qorgau.observe.encoding import read_text

TEXT = "Дата;Номер;Тип\n01.05.2025 10:00;8 (701) 123-45-67;Входящий звонок\n"


@pytest.mark.parametrize(
    "data",
    [
        TEXT.encode("utf-8"),
        codecs.BOM_UTF8 + TEXT.encode("utf-8"),
        TEXT.encode("utf-16"),  # with BOM
        TEXT.encode("cp1251"),
    ],
    ids=["utf8", "utf8-bom", "utf16-bom", "cp1251"],
)
def test_reads_common_encodings(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "log.csv"
    path.write_bytes(data)
    assert read_text(path) == TEXT


def test_kazakh_windows_encoding(tmp_path: Path) -> None:
    text = "Бүгін редакторға белгісіз нөмірден қоңырау шалды, пәтер сатылады деп жазылған"
    path = tmp_path / "kz.txt"
    path.write_bytes(text.encode("kz1048"))
    assert read_text(path) == text


@pytest.mark.parametrize(
    "data",
    [bytes(range(256)) * 8, "你好世界这是中文文本".encode("gbk"), b"\x89PNG\r\n\x1a\n\x00\x00\x00"],
    ids=["binary", "gbk", "png"],
)
def test_refuses_when_unsure(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(data)
    with pytest.raises(InvalidInput) as caught:
        read_text(path)
    assert "export.csv" in str(caught.value)
    assert "UTF-8" in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"nothing\.csv cannot be read"):
        read_text(tmp_path / "nothing.csv")
