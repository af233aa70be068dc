"""Vectorised text views: per-code-point tables built once, applied with numpy, with offsets to the original."""

from __future__ import annotations

import threading
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt

U32 = npt.NDArray[np.uint32]
I64 = npt.NDArray[np.int64]

SEP = 0xE000
"""A private-use code point every view keeps: it separates batched terms and evaluation variants."""

_MAX_CP = 0x110000
_SCAN_LIMIT = 0x20000  # BMP + SMP: styled letters, enclosed alphanumerics, emoji; higher planes stay as they are
_EXPAND_WIDTH = 4
_FLAG = 0x200000  # set in the single table on code points that expand; above every code point
_CAPITAL_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_CONTACT_DIGITS = {**{c: str(i) for i, c in enumerate("〇一二三四五六七八九")}, "零": "0", "幺": "1", "两": "2"}
_DROP_CATEGORIES = {"Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Cn", "Mn", "Me", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po"}
_DROP_SYMBOLS = {"Sm", "Sc", "Sk", "So"}


@dataclass(frozen=True, slots=True)
class View:
    """A transformed text and, for each of its characters, the index of the original character it came from."""

    text: str
    offsets: I64

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original [start, end) span covered by view characters [start, end)."""
        return int(self.offsets[start]), int(self.offsets[end - 1]) + 1


@dataclass(frozen=True, slots=True)
class Tables:
    """Every per-code-point table, built once per process."""

    single: U32  # code point -> one normalised code point (0: dropped)
    expand: dict[int, tuple[int, ...]]  # the few code points that normalise to several
    light: U32  # width and case only, never drops: same length as the original
    syllable: npt.NDArray[np.uint16]  # CJK code point -> toneless pinyin syllable id (0: none)
    syllables: tuple[str, ...]
    syl_matrix: U32  # syllable id -> up to 6 letters
    syl_len: npt.NDArray[np.int64]
    homophone: U32  # code point -> representative character of its first reading
    initial: U32  # code point -> first letter of its first reading
    word: npt.NDArray[np.bool_]  # NFKC + lower case gives ASCII letters or digits (a word character)
    fold_multi: npt.NDArray[np.bool_]  # NFKC + lower case is not one character that `light` holds


def _t2s_chars() -> dict[str, str]:
    """Traditional -> simplified per character, from OpenCC's TSCharacters table (first candidate)."""
    import opencc

    path = Path(opencc.__file__).parent / "dictionary" / "TSCharacters.txt"
    mapping: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) == 2 and len(parts[0]) == 1 and parts[1]:
            target = parts[1].split(" ")[0]
            if len(target) == 1:
                mapping[parts[0]] = target
    return mapping


def _keep(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return cat not in _DROP_CATEGORIES and cat not in _DROP_SYMBOLS


def _fold(ch: str, t2s: dict[str, str]) -> str:
    """NFKC, lower case, digits of any script to ASCII, drop symbols/spaces/marks, traditional -> simplified."""
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", ch).lower())
    out = []
    for c in text:
        if not _keep(c):
            continue
        digit = str(unicodedata.digit(c)) if unicodedata.category(c) == "Nd" and not c.isascii() else c
        out.append(t2s.get(digit, digit))
    return "".join(out)


def _build() -> Tables:
    t2s = _t2s_chars()
    single = np.arange(_MAX_CP, dtype=np.uint32)
    light = np.arange(_MAX_CP, dtype=np.uint32)
    expand: dict[int, tuple[int, ...]] = {}
    word = np.zeros(_MAX_CP, dtype=np.bool_)
    fold_multi = np.zeros(_MAX_CP, dtype=np.bool_)
    fold_multi[_SCAN_LIMIT:] = True  # not scanned: compared the slow way
    cjk = [(0x3400, 0x4DC0), (0x4E00, 0xA000), (0xAC00, 0xD7A4), (0xD800, 0xE000), (0xE000, 0xF900)]
    skip = np.zeros(_SCAN_LIMIT, dtype=np.bool_)
    for lo, hi in cjk:
        skip[lo:hi] = True
    for cp in np.flatnonzero(~skip).tolist():
        ch = chr(cp)
        folded = _fold(ch, t2s)
        lit = unicodedata.normalize("NFKC", ch).lower()
        if len(lit) == 1:
            light[cp] = ord(lit)
        else:
            fold_multi[cp] = True
        word[cp] = lit.isascii() and lit.isalnum()
        if len(folded) == 1:
            single[cp] = ord(folded)
        elif not folded:
            single[cp] = 0
        else:
            codes = tuple(ord(c) for c in folded[:_EXPAND_WIDTH])
            expand[cp] = codes
            single[cp] = codes[0] | _FLAG
    for trad, simp in t2s.items():
        cp = ord(trad)
        if cp < _MAX_CP and (cp >= _SCAN_LIMIT or skip[cp]):
            single[cp] = ord(simp)
    for lo, hi in ((0xE0000, 0xE0080), (0xE0100, 0xE01F0), (0xF0000, 0x110000)):
        single[lo:hi] = 0
    single[0xD800:0xE000] = 0  # lone surrogates carry nothing
    light[0xD800:0xE000] = 0xFFFD
    fold_multi[0xD800:0xE000] = True
    single[SEP] = SEP
    for i, ch in enumerate(_CAPITAL_DIGITS):
        single[ord(ch)] = ord(str(i))
    syllable, syllables, syl_matrix, syl_len, homophone, initial = _pinyin_tables(single)
    return Tables(
        single=single,
        expand=expand,
        light=light,
        syllable=syllable,
        syllables=syllables,
        syl_matrix=syl_matrix,
        syl_len=syl_len,
        homophone=homophone,
        initial=initial,
        word=word,
        fold_multi=fold_multi,
    )


def _strip_tone(reading: str) -> str:
    base = unicodedata.normalize("NFKD", reading)
    return "".join(c for c in base if c.isascii() and c.isalpha()).lower()


def _pinyin_tables(
    single: U32,
) -> tuple[npt.NDArray[np.uint16], tuple[str, ...], U32, npt.NDArray[np.int64], U32, U32]:
    from pypinyin.pinyin_dict import pinyin_dict

    syllable = np.zeros(_MAX_CP, dtype=np.uint16)
    names: dict[str, int] = {"": 0}
    rep: dict[int, int] = {}
    for cp in sorted(pinyin_dict):
        if cp >= _MAX_CP or single[cp] != cp:
            continue
        first = _strip_tone(str(pinyin_dict[cp]).split(",")[0])
        if not first:
            continue
        sid = names.setdefault(first, len(names))
        syllable[cp] = sid
        if 0x4E00 <= cp < 0xA000:
            rep.setdefault(sid, cp)
    syllables = tuple(names)
    width = max(len(s) for s in syllables)
    matrix = np.zeros((len(syllables), width), dtype=np.uint32)
    lengths = np.ones(len(syllables), dtype=np.int64)
    for sid, name in enumerate(syllables):
        if name:
            matrix[sid, : len(name)] = [ord(c) for c in name]
            lengths[sid] = len(name)
    homophone = np.arange(_MAX_CP, dtype=np.uint32)
    initial = np.arange(_MAX_CP, dtype=np.uint32)
    has = np.flatnonzero(syllable)
    sids = syllable[has]
    rep_arr = np.array([rep.get(s, 0) for s in range(len(syllables))], dtype=np.uint32)
    mapped = rep_arr[sids]
    homophone[has] = np.where(mapped != 0, mapped, has.astype(np.uint32))
    initial[has] = matrix[sids, 0]
    return syllable, syllables, matrix, lengths, homophone, initial


_NO_COLLAPSE = np.zeros(_MAX_CP, dtype=np.bool_)
_NO_COLLAPSE[[ord(c) for c in "0123456789"]] = True
_NO_COLLAPSE[SEP] = True
_IS_NUMERAL = np.zeros(_MAX_CP, dtype=np.bool_)
_IS_NUMERAL[[ord(c) for c in _CONTACT_DIGITS]] = True
_DIGITLIKE = _IS_NUMERAL.copy()
_DIGITLIKE[[ord(c) for c in "0123456789"]] = True

_lock = threading.Lock()


@cache
def tables() -> Tables:
    """The process-wide tables (about half a second to build, once)."""
    with _lock:
        return _build()


def _codes(text: str) -> U32:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _decode(arr: U32) -> str:
    return arr.astype(np.uint32, copy=False).tobytes().decode("utf-32-le", "surrogatepass")


def normalize_codes(text: str, *, collapse: bool = True) -> tuple[U32, I64]:
    """The normalised code points of text and the original index of each."""
    return normalize_cps(_codes(text), collapse=collapse)


def normalize_cps(cps: U32, *, collapse: bool = True) -> tuple[U32, I64]:
    """The normalised code points of the code points cps and the index in cps of each."""
    t = tables()
    mapped = t.single[cps]
    keep = np.flatnonzero(mapped)
    out = mapped[keep]
    offs: I64 = keep
    if out.size and int(out.max()) >= _FLAG:
        out, offs = _expand(out, offs, cps, t)
    if collapse and out.size > 1:
        keep_mask = np.empty(out.size, dtype=np.bool_)
        keep_mask[0] = True
        np.not_equal(out[1:], out[:-1], out=keep_mask[1:])
        repeats = np.flatnonzero(~keep_mask)
        if repeats.size:
            keep_mask[repeats[_NO_COLLAPSE[out[repeats]]]] = True  # digits repeat in phone numbers
            numeral = repeats[_IS_NUMERAL[out[repeats]]]
            if numeral.size:
                # a repeated Chinese numeral stays when it is part of a run of digits (一三八八八...)
                before = out[np.maximum(numeral - 2, 0)]
                after = out[np.minimum(numeral + 1, out.size - 1)]
                near = (_DIGITLIKE[before] & (numeral >= 2)) | (_DIGITLIKE[after] & (numeral + 1 < out.size))
                keep_mask[numeral[near]] = True
            if not keep_mask.all():
                out = out[keep_mask]
                offs = offs[keep_mask]
    return out, offs


def _expand(out: U32, offs: I64, cps: U32, t: Tables) -> tuple[U32, I64]:
    """Insert the further code points of the few characters that normalise to several."""
    where = np.flatnonzero(out >= _FLAG).tolist()
    out = out & np.uint32(_FLAG - 1)
    code_parts: list[U32] = []
    off_parts: list[I64] = []
    last = 0
    for j in where:
        origin = int(offs[j])
        rest = t.expand[int(cps[origin])][1:]
        code_parts += [out[last : j + 1], np.array(rest, dtype=np.uint32)]
        off_parts += [offs[last : j + 1], np.full(len(rest), origin, dtype=offs.dtype)]
        last = j + 1
    code_parts.append(out[last:])
    off_parts.append(offs[last:])
    return np.concatenate(code_parts), np.concatenate(off_parts)


def normal_view(text: str) -> tuple[View, U32]:
    """The default view: NFKC, width, case, traditional -> simplified, styles, symbols dropped, repeats collapsed."""
    codes, offs = normalize_codes(text)
    return View(_decode(codes), offs), codes


def light_view(text: str) -> str:
    """Width and case folded, nothing dropped: index i is original character i."""
    return _decode(light_cps(_codes(text)))


def light_cps(cps: U32) -> U32:
    """The light view as code points (same length)."""
    return tables().light[cps]


def codes(text: str) -> U32:
    """The code points of text as a uint32 array (no copy beyond the UTF-32 encoding)."""
    return _codes(text)


def decode(arr: U32) -> str:
    """A string from an array of code points."""
    return _decode(arr)


def homophone_view(codes: U32, offsets: I64) -> View:
    """Each character replaced by the representative character of its first toneless reading."""
    return View(_decode(tables().homophone[codes]), offsets)


def initials_view(codes: U32, offsets: I64) -> View:
    """Each Chinese character replaced by the first letter of its reading; everything else kept."""
    return View(_decode(tables().initial[codes]), offsets)


def pinyin_view(codes: U32, offsets: I64) -> View:
    """Each Chinese character replaced by its toneless pinyin letters; everything else kept."""
    t = tables()
    sids = t.syllable[codes]
    lengths = t.syl_len[sids]
    mat = t.syl_matrix[sids]
    plain = sids == 0
    mat[plain, 0] = codes[plain]
    mask = np.arange(mat.shape[1])[None, :] < lengths[:, None]
    return View(_decode(mat[mask]), np.repeat(offsets, lengths))


_CONTACT_CODES = np.array([ord(c) for c in _CONTACT_DIGITS], dtype=np.uint32)
_CONTACT_VALUES = np.array([ord(v) for v in _CONTACT_DIGITS.values()], dtype=np.uint32)
_CONTACT_ORDER = np.argsort(_CONTACT_CODES)


def contact_codes(codes: U32) -> U32:
    """The normal view with Chinese numerals read as digits (same length) for contact detectors."""
    where = np.flatnonzero(_IS_NUMERAL[codes])
    if not where.size:
        return codes
    keys = _CONTACT_CODES[_CONTACT_ORDER]
    out = codes.copy()
    out[where] = _CONTACT_VALUES[_CONTACT_ORDER][np.searchsorted(keys, codes[where])]
    return out


def normalize(text: str) -> str:
    """The normal view of text as a string."""
    return normal_view(text)[0].text


def split_batch(view_text: str, count: int) -> list[str]:
    """Split a batched view on the separator, checking the count."""
    parts = view_text.split(chr(SEP))
    if len(parts) != count:
        raise ValueError(f"separator mismatch: {len(parts)} != {count}")
    return parts


def data_file(name: str) -> str:
    """The text of a data file shipped in synthguard.review.data."""
    return resources.files("synthguard.review.data").joinpath(name).read_text(encoding="utf-8")
