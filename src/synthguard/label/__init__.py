"""The GB 45438 label model: fields, validation, provider codes and security data."""

from synthguard.label.codes import ProducerCode, code_problem, is_valid_resident_id, is_valid_uscc
from synthguard.label.model import (
    FIELDS,
    AigcLabel,
    JsonShape,
    LabelValue,
    ParsedLabel,
    parse_label_json,
    parse_label_mapping,
)

__all__ = [
    "FIELDS",
    "AigcLabel",
    "JsonShape",
    "LabelValue",
    "ParsedLabel",
    "ProducerCode",
    "code_problem",
    "is_valid_resident_id",
    "is_valid_uscc",
    "parse_label_json",
    "parse_label_mapping",
]
