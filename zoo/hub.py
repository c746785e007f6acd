"""Hugging Face Hub: cache-first download (honours ``HF_HUB_OFFLINE``); publishing is ``foundation.served.publish``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import hf_hub_download, try_to_load_from_cache
from huggingface_hub.constants import is_offline_mode

from unihub.foundation.errors import InputError, MissingInputError
from unihub.foundation.files import offline

_HF = re.compile(r"^hf://(?P<repo>[\w.-]+/[\w.-]+)(?:@(?P<rev>[\w.\-/]+?))?(?:/(?P<sub>.+))?$")


@dataclass
class HubLocation:
    repo_id: str
    revision: str | None
    subfolder: str | None


def parse(location: str) -> HubLocation:
    """``hf://owner/repo[@revision][/subfolder]`` → parts (revisions may not contain '/')."""
    m = _HF.match(location)
    if not m:
        raise InputError(f"not a Hub location: {location!r}; expected hf://owner/repo[@revision][/subfolder]")
    rev, sub = m["rev"], m["sub"]
    if rev and "/" in rev:
        rev, _, rest = rev.partition("/")
        sub = f"{rest}/{sub}" if sub else rest
    return HubLocation(m["repo"], rev, sub)


def fetch(location: str, filename: str, cache_dir: str | Path | None = None) -> Path:
    """Local path of one file of a Hub model: the HF cache first, then a download unless offline."""
    loc = parse(location)
    name = f"{loc.subfolder}/{filename}" if loc.subfolder else filename
    cached = try_to_load_from_cache(loc.repo_id, name, cache_dir=cache_dir, revision=loc.revision)
    if isinstance(cached, str):
        return Path(cached)
    if is_offline_mode() or offline():
        raise MissingInputError(
            f"{filename} of {location} is not in the Hugging Face cache and HF_HUB_OFFLINE is set; "
            "unset HF_HUB_OFFLINE (and go online) to download it, or set HF_HUB_CACHE to a cache that has it")
    return Path(hf_hub_download(loc.repo_id, filename, subfolder=loc.subfolder, revision=loc.revision,
                                cache_dir=cache_dir, library_name="unihub"))
