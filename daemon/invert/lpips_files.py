"""Where LPIPS's two weights files come from and where they go, without torch: `dragd models --fetch-lpips`
starts downloading at once (torch takes seconds to import). The network itself is in `lpips.py`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..models.registry import user_models_dir
from ..transfer import download_file


@dataclass(frozen=True)
class WeightsFile:
    name: str
    url: str
    sha256: str


VGG16_FILE = WeightsFile("vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth",
                         "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0")
HEADS_FILE = WeightsFile("lpips-vgg-v0.1.pth",
                         "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth",
                         "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868")
LPIPS_FILES = (VGG16_FILE, HEADS_FILE)
NO_LPIPS = ("LPIPS weights not installed: inverting with pixel losses only (lower quality); "
            "fetch them once with `dragd models --fetch-lpips` (about 530 MB)")


def lpips_dir() -> Path:
    return user_models_dir() / "lpips"


def fetch_lpips_weights(folder: Path | None = None,
                        on_progress: Callable[[str, int, int | None], None] | None = None) -> list[Path]:
    """Downloads (resuming) and checks both weights files; on_progress(name, bytes_done, bytes_total).

    A file already in `folder` with the right checksum is not fetched again; a failure is a `transfer.DownloadError`.
    """
    folder = lpips_dir() if folder is None else folder
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for f in LPIPS_FILES:
        report = None if on_progress is None else (lambda done, total, name=f.name: on_progress(name, done, total))
        paths.append(download_file(f.url, folder / f.name, f.sha256, report))
    return paths
