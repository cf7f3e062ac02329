"""The shopstream event contract: envelope, e-commerce events, validation, serde.

Producers and the validation stage share this package, so a client-side check
and the worker's check are the same code.
"""

from models.envelope import Context, Envelope
from models.errors import Code, Issue
from models.validation import ValidationResult, validate_bytes, validate_obj

__all__ = [
    "Code",
    "Context",
    "Envelope",
    "Issue",
    "ValidationResult",
    "validate_bytes",
    "validate_obj",
]
