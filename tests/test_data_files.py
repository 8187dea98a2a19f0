"""The recorded data the tests replay is in the repository, unchanged, with its provenance."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.support import TRACES

DATA = Path(__file__).resolve().parent / "data"


def _checksums(folder: Path) -> dict[str, str]:
    sums = {}
    for line in (folder / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        sums[name.lstrip("*")] = digest
    return sums


def test_every_data_file_matches_its_recorded_checksum() -> None:
    for folder in (TRACES, DATA / "hl7"):
        sums = _checksums(folder)
        files = {p.name for p in folder.iterdir() if p.name not in ("SHA256SUMS", "README.md")}
        assert files == set(sums), (
            f"{folder}: files without a checksum, or checksums without a file"
        )
        for name, digest in sums.items():
            actual = hashlib.sha256((folder / name).read_bytes()).hexdigest()
            assert actual == digest, f"{folder / name} was changed (sha256 {actual})"


def test_every_data_folder_names_its_source_and_licence() -> None:
    for folder in (p for p in DATA.iterdir() if p.is_dir()):
        readme = (folder / "README.md").read_text()
        assert "Provenance" in readme and "Licence" in readme, folder
        for data_file in folder.iterdir():
            if data_file.name not in ("SHA256SUMS", "README.md"):
                assert data_file.name in readme, f"{data_file.name} is not described in {folder}"
