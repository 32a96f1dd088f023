"""Detection core of the scrubber: an offline Presidio engine plus our recognizers.

>>> from securetune.scrub import DetectorConfig
>>> DetectorConfig(entities=("PERSON",)).score_threshold
0.5
"""

from securetune.scrub.detect import (
    DEFAULT_ENTITIES,
    SAFE_HARBOR_ENTITIES,
    Detector,
    DetectorConfig,
    Finding,
)
from securetune.scrub.errors import DetectorError

__all__ = [
    "DEFAULT_ENTITIES",
    "SAFE_HARBOR_ENTITIES",
    "Detector",
    "DetectorConfig",
    "DetectorError",
    "Finding",
]
