#!/usr/bin/env python3
"""Regenerate the bundled label font: a small subset of Noto Sans CJK SC Bold (SIL OFL 1.1) plus its licence."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont

SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")  # Debian fonts-noto-cjk
SOURCE_INDEX = 2  # "Noto Sans CJK SC Bold" inside the collection
LICENCE_SOURCE = Path("/usr/share/doc/fonts-noto-cjk/copyright")  # holds the full OFL 1.1 text
OUT_DIR = Path(__file__).resolve().parent.parent / "src" / "synthguard" / "explicit" / "fonts"
OUT_NAME = "SynthguardLabelSans-Bold.otf"
FAMILY = "Synthguard Label Sans"  # renamed: "Noto" is a trademark, and a subset is a modified version

# The wording elements of GB 45438 §5, words commonly put next to them on a label, and punctuation.
CJK = (
    "人工智能生成合成"
    "内容由本图片像视频音频文字语声深度虚拟场景标识提示注意此该为已经部分全使用技术服务平台模型算法"
    "，。：；！？、（）【】「」《》—…·“”‘’　"
)
ASCII = "".join(chr(c) for c in range(0x20, 0x7F))
FULLWIDTH = "ＡＩ"  # so a full-width "ＡＩ生成" renders too


def characters() -> str:
    """Every character the subset keeps, deduplicated in a stable order."""
    return "".join(dict.fromkeys(ASCII + CJK + FULLWIDTH))


def rename(font: TTFont) -> None:
    """Give the subset its own family name (keeps copyright, licence and vendor records)."""
    ps_name = FAMILY.replace(" ", "") + "-Bold"
    names = {1: FAMILY, 2: "Bold", 4: f"{FAMILY} Bold", 6: ps_name, 16: FAMILY, 17: "Bold"}
    table = font["name"]
    for record in list(table.names):
        if record.nameID in (7, 16, 17):  # drop the trademark line and any typographic family records
            table.removeNames(nameID=record.nameID)
    for name_id, value in names.items():
        table.setName(value, name_id, 3, 1, 0x409)
        table.setName(value, name_id, 1, 0, 0)
    unique = table.getDebugName(5) or ""
    table.setName(f"{ps_name};subset of NotoSansCJKsc-Bold {unique}", 3, 3, 1, 0x409)
    if "CFF " in font:
        cff = font["CFF "].cff
        cff.fontNames = [ps_name]
        top = cff.topDictIndex[0]
        top.FullName = f"{FAMILY} Bold"
        top.FamilyName = FAMILY
        if hasattr(top, "Notice"):
            del top.Notice


def licence_text() -> str:
    """The OFL 1.1 text from the Debian copyright file, with the font's copyright line on top."""
    lines = LICENCE_SOURCE.read_text(encoding="utf-8").splitlines()
    start = lines.index("License: SIL-1.1", lines.index("License: SIL-1.1") + 1) + 1
    body: list[str] = []
    for line in lines[start:]:
        if not line.startswith(" "):
            break
        body.append("" if line.strip() == "." else line[1:])
    text = "\n".join(body).strip("\n")
    text = re.sub(r"^-+$", "-" * 59, text, flags=re.MULTILINE)
    return text + "\n"


def main() -> None:
    """Subset, rename, save, and write OFL.txt next to the font."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args()
    font = TTCollection(str(SOURCE)).fonts[SOURCE_INDEX]
    copyright_line = font["name"].getDebugName(0) or ""
    version = font["name"].getDebugName(5) or ""
    options = subset.Options()
    options.layout_features = ["kern", "palt", "halt", "vert"]  # no CJK locl variants needed for SC
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]
    options.name_languages = [0x409]
    options.notdef_outline = True
    options.hinting = False
    options.desubroutinize = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=characters())
    subsetter.subset(font)
    rename(font)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / OUT_NAME
    font.flavor = None
    font.save(str(out))
    header = (
        f"{FAMILY} Bold is a subset of Noto Sans CJK SC Bold ({version}).\n"
        f"Original font: {copyright_line}\n"
        'Reserved Font Name: none declared by the source font; renamed anyway ("Noto" is a Google trademark).\n\n'
    )
    (args.out / "OFL.txt").write_text(header + licence_text(), encoding="utf-8")
    (args.out / "charset.txt").write_text(characters() + "\n", encoding="utf-8")
    print(f"{out}: {out.stat().st_size} bytes, {len(characters())} characters")


if __name__ == "__main__":
    main()
