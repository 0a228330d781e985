"""Fetch a Kaggle dataset and point ``data.root`` at it.

``python -m sports_rec.download sports100|sports_balls|workout --out DIR`` downloads the
dataset with ``kagglehub`` straight into ``DIR``, unpacks any archive inside, finds the
folder the reader expects (real archives often nest it one level deeper), runs the reader as
a layout check and ends with the line ``data.root=<absolute path>`` to pass to training.

``--from-archive PATH`` does the same for a zip (or tar, or unpacked folder) downloaded in a
browser, so machines without network or Kaggle credentials get the same checked result.

Failures a user can fix (no credentials, no network, a zip that is not the dataset) raise
:class:`DownloadError` subclasses whose message names the cause and the fix; the command
prints it and exits with status 1. Both pre-flight checks are local or bounded by a short
timeout, so an offline machine gets its answer in seconds, never after kagglehub's retries.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tarfile
import zipfile
from pathlib import Path

from sports_rec.data.catalog import DATASETS as CATALOG
from sports_rec.data.catalog import DatasetEntry
from sports_rec.data.index import SPLITS, DatasetLayoutError, IndexTable, is_image_file
from sports_rec.errors import SportsRecError
from sports_rec.utils.logging import get_logger

log = get_logger(__name__)

REACHABILITY_TIMEOUT_S = 5.0
# How deep below the unpacked folder the dataset root may sit (real archives add 1-2 levels).
MAX_SEARCH_DEPTH = 4
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
# Folders that archive tools add and that never hold the dataset.
IGNORED_FOLDERS = frozenset({"__MACOSX"})


#: The datasets ``download`` fetches: those of the catalog that live on Kaggle.
DATASETS: dict[str, DatasetEntry] = {
    name: entry for name, entry in CATALOG.items() if entry.kaggle is not None
}


class DownloadError(SportsRecError, RuntimeError):
    """The dataset could not be fetched or prepared; the message says why and what to do."""


class MissingCredentialsError(DownloadError):
    """kagglehub finds no (or unreadable) Kaggle credentials."""


class KaggleUnreachableError(DownloadError):
    """Kaggle's API cannot be reached from this machine (offline, DNS, proxy, firewall)."""


class DatasetNotFoundError(DownloadError, DatasetLayoutError):
    """The unpacked files hold no folder in the dataset's layout."""


def dataset_info(name: str) -> DatasetEntry:
    """The downloadable dataset called ``name``; unknown names list the known ones."""
    if name not in DATASETS:
        raise DownloadError(f"unknown dataset {name!r}; one of {sorted(DATASETS)}")
    return DATASETS[name]


def _offline_hint(dataset: DatasetEntry) -> str:
    return (
        f"Download the archive elsewhere from {dataset.kaggle.url} (Download button), copy it here "
        f"and run\n  python -m sports_rec.download {dataset.name} --from-archive "
        "ARCHIVE.zip --out DIR\nthen train with the data.root=... line it prints (or unzip "
        "it yourself and pass data.root=<folder>)."
    )


# ----------------------------------------------------------------------------- pre-flight
def credentials_help() -> str:
    """Where kagglehub looks for credentials, in its own order of precedence."""
    config_dir = Path(os.environ.get("KAGGLE_CONFIG_DIR", Path.home() / ".kaggle"))
    return (
        "kagglehub reads, first found: the KAGGLE_API_TOKEN environment variable or "
        "~/.kaggle/access_token (new-style token); the KAGGLE_USERNAME and KAGGLE_KEY "
        f'environment variables; {config_dir / "kaggle.json"} ({{"username": "...", '
        '"key": "..."}, chmod 600; folder set by KAGGLE_CONFIG_DIR). Create a token at '
        "https://www.kaggle.com/settings (API, Create New Token)."
    )


def check_credentials(dataset: DatasetEntry) -> None:
    """Fail unless kagglehub finds Kaggle credentials (by its own lookup, nothing else)."""
    from kagglehub.config import get_kaggle_credentials

    try:
        credentials = get_kaggle_credentials()
    except ValueError as error:  # kagglehub's complaint about a malformed kaggle.json
        raise MissingCredentialsError(f"{error}. {credentials_help()}") from None
    if credentials is None:
        raise MissingCredentialsError(
            f"no Kaggle credentials found. {credentials_help()}\nWithout an account:\n"
            + _offline_hint(dataset)
        )


def kaggle_api_endpoint() -> str:
    """The API endpoint kagglehub's client talks to (``KAGGLE_API_ENVIRONMENT`` aware)."""
    from kagglesdk.kaggle_env import get_endpoint, get_env

    return str(get_endpoint(get_env()))


def _unreachable_reason(error: Exception, proxy: str | None, timeout: float) -> str:
    import requests

    if isinstance(error, requests.exceptions.ProxyError):
        return f"the proxy {proxy} could not be used (connection refused or failed)"
    if isinstance(error, requests.exceptions.Timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(error, requests.exceptions.SSLError):
        return "the TLS handshake failed (a proxy or firewall intercepting HTTPS?)"
    text = str(error)
    if "NameResolution" in text or "Name or service not known" in text:
        return "the host name does not resolve (no DNS: the machine looks offline)"
    return "the connection failed (refused or unroutable)"


def unreachable_error(
    dataset: DatasetEntry, endpoint: str, error: Exception, timeout: float
) -> KaggleUnreachableError:
    """The one message for 'no network', whether found by the pre-flight or by kagglehub."""
    import requests

    proxy = requests.utils.get_environ_proxies(endpoint).get("https")
    via = f" through the proxy {proxy} (HTTPS_PROXY)" if proxy else ""
    reason = _unreachable_reason(error, proxy, timeout)
    return KaggleUnreachableError(
        f"cannot reach Kaggle at {endpoint}{via}: {reason}. This machine has no network "
        f"access to Kaggle.\n{_offline_hint(dataset)}"
    )


def check_reachable(dataset: DatasetEntry, timeout: float = REACHABILITY_TIMEOUT_S) -> None:
    """Fail within ``timeout`` seconds unless Kaggle's API answers at all.

    Uses ``requests`` with the environment's proxy settings, the stack kagglehub's client
    uses, so a proxy that kagglehub would go through is tested too. Any HTTP answer
    (even 404) proves the network path; only connection-level failures count.
    """
    import requests

    endpoint = kaggle_api_endpoint()
    with requests.Session() as session:
        try:
            session.head(endpoint, timeout=timeout, allow_redirects=False)
        except requests.exceptions.RequestException as error:
            raise unreachable_error(dataset, endpoint, error, timeout) from None


# ----------------------------------------------------------------------------- download
def fetch_with_kagglehub(dataset: DatasetEntry, out: Path) -> Path:
    """Download and unpack the dataset into ``out`` with kagglehub; returns ``out``.

    kagglehub's ``output_dir`` writes the files there directly (no copy out of its cache)
    and marks completion in ``out/.complete``, so re-running into the same folder skips the
    download. kagglehub's own failures are translated into actionable messages.
    """
    import kagglehub
    import requests
    from kagglehub import exceptions as kh

    try:
        path = kagglehub.dataset_download(dataset.kaggle.slug, output_dir=str(out))
    except requests.exceptions.HTTPError as error:
        status = getattr(error.response, "status_code", None)
        if status in (401, 403):
            raise MissingCredentialsError(
                f"Kaggle refused the download of {dataset.kaggle.url} (HTTP {status}): the "
                "credentials are wrong or expired, or the dataset needs its terms accepted "
                f"on the web page first. {credentials_help()}"
            ) from None
        url = dataset.kaggle.url
        raise DownloadError(f"Kaggle answered with an error for {url}: {error}") from None
    except requests.exceptions.RequestException as error:
        raise unreachable_error(
            dataset, kaggle_api_endpoint(), error, REACHABILITY_TIMEOUT_S
        ) from None
    except (kh.CredentialError, kh.UnauthenticatedError) as error:
        raise MissingCredentialsError(f"{error}. {credentials_help()}") from None
    except FileExistsError as error:
        raise DownloadError(
            f"{error}. kagglehub only downloads into a new or empty folder (or one it "
            "completed before): choose another --out or empty this one."
        ) from None
    except (kh.BackendError, kh.NotFoundError, kh.DataCorruptionError) as error:
        raise DownloadError(f"kagglehub could not download {dataset.kaggle.url}: {error}") from None
    return Path(path)


def download(name: str, out: str | Path, timeout: float = REACHABILITY_TIMEOUT_S) -> Path:
    """Download dataset ``name`` into ``out`` and return its checked root.

    Credentials and reachability are checked first (fast, bounded), then kagglehub fetches
    and unpacks, then :func:`prepare_local` finds and checks the root in place.
    """
    return _download(name, out, timeout)[0]


def _download(name: str, out: str | Path, timeout: float) -> tuple[Path, IndexTable]:
    dataset = dataset_info(name)
    out = Path(out).expanduser().resolve()
    if out.is_file():
        raise DownloadError(f"--out {out} is a file; pass a folder (new or empty)")
    check_credentials(dataset)
    check_reachable(dataset, timeout)
    log.info("Downloading %s (%s) into %s", dataset.name, dataset.kaggle.url, out)
    fetched = fetch_with_kagglehub(dataset, out)
    return _prepare_local(name, fetched, None)


# ----------------------------------------------------------------------------- unpack
def is_archive(path: Path) -> bool:
    """A file whose name ends like an archive this module unpacks."""
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


def _archive_stem(path: Path) -> str:
    name = path.name
    for suffix in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def extract_archive(archive: Path, dest: Path) -> Path:
    """Unpack a zip or tar archive into ``dest``; returns ``dest``.

    Member paths that would escape ``dest`` are neutralised (zipfile strips ``..`` and
    absolute paths; tar uses the ``data`` filter), so a hostile archive cannot write
    outside the folder.
    """
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as bundle:
                bundle.extractall(dest)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as bundle:
                bundle.extractall(dest, filter="data")
        else:
            raise DownloadError(
                f"{archive} is not a zip or tar archive (corrupt or incomplete download?); "
                "download it again, or unpack it yourself and pass the folder"
            )
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as error:
        raise DownloadError(
            f"{archive}: cannot unpack ({error}); the archive is damaged or incomplete, "
            "download it again"
        ) from None
    return dest


def unpack_nested_archives(folder: Path, rounds: int = 2) -> list[Path]:
    """Unpack archives found inside ``folder`` next to themselves (``x.zip`` -> ``x/``).

    Some datasets ship a zip inside the download. Each archive is unpacked once: a folder
    of its name already there counts as done, so re-running is cheap. Archives are kept
    (the folder may be the user's own). Returns the folders written.
    """
    written: list[Path] = []
    for _ in range(rounds):
        pending = [
            path
            for path in sorted(folder.rglob("*"))
            if is_archive(path)
            and not (path.parent / _archive_stem(path)).exists()
            and not _is_ignored(path.relative_to(folder))
        ]
        if not pending:
            break
        for archive in pending:
            log.info("Unpacking %s", archive)
            written.append(extract_archive(archive, archive.parent / _archive_stem(archive)))
    return written


def _is_ignored(relative: Path) -> bool:
    return any(part.startswith(".") or part in IGNORED_FOLDERS for part in relative.parts)


# ----------------------------------------------------------------------------- locate
def _subfolders(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_dir() and not p.name.startswith(".") and p.name not in IGNORED_FOLDERS
    )


def _holds_images(folder: Path) -> bool:
    return any(is_image_file(p) for p in folder.iterdir())


def _is_class_folder_root(folder: Path) -> bool:
    """Two or more class folders, each holding images directly."""
    classes = _subfolders(folder)
    return len(classes) >= 2 and all(_holds_images(c) for c in classes)


def looks_like_root(dataset: DatasetEntry, folder: Path) -> bool:
    """Whether ``folder`` has the shape of the dataset's root (the reader then checks it)."""
    if dataset.kaggle.split_folders:
        train = folder / "train"
        return train.is_dir() and any(_holds_images(c) for c in _subfolders(train))
    return folder.name not in SPLITS and _is_class_folder_root(folder)


def _walk(base: Path, max_depth: int) -> list[tuple[int, Path]]:
    """Folders under ``base`` (itself included) with their depth, breadth first."""
    found, frontier = [], [base]
    for depth in range(max_depth + 1):
        found.extend((depth, folder) for folder in frontier)
        frontier = [sub for folder in frontier for sub in _subfolders(folder)]
    return found


def locate_root(name: str, folder: str | Path) -> Path:
    """The shallowest folder under ``folder`` in the dataset's layout.

    Raises :class:`DatasetNotFoundError` when none (naming what was found instead) or when
    several tie at the same depth (naming them, so the user picks one as ``data.root``).
    """
    dataset = dataset_info(name)
    folder = Path(folder)
    matches = [(d, f) for d, f in _walk(folder, MAX_SEARCH_DEPTH) if looks_like_root(dataset, f)]
    if not matches:
        top = ", ".join(sorted(p.name for p in folder.iterdir())[:8]) or "nothing"
        hint = ""
        nested_splits = any((f / "train").is_dir() for _, f in _walk(folder, 2))
        if not dataset.kaggle.split_folders and nested_splits:
            hint = " It holds train/ folders: a split layout, not the workout dataset."
        raise DatasetNotFoundError(
            f"{folder}: no {dataset.name} dataset found within {MAX_SEARCH_DEPTH} folder levels "
            f"(looked for {dataset.expected}; the top level holds: {top}).{hint} Is this the "
            f"archive of {dataset.kaggle.url}?"
        )
    depth = matches[0][0]
    tied = [f for d, f in matches if d == depth]
    if len(tied) > 1:
        listed = "\n  ".join(str(f) for f in tied)
        raise DatasetNotFoundError(
            f"{folder}: {len(tied)} folders look like a {dataset.name} root:\n  {listed}\n"
            "Pass the one you want as data.root=<folder>."
        )
    return tied[0].resolve()


def locate_and_check(name: str, folder: str | Path) -> tuple[Path, IndexTable]:
    """Locate the root under ``folder`` and index it with the dataset's reader."""
    dataset = dataset_info(name)
    root = locate_root(name, folder)
    return root, dataset.read(root)


def prepare_local(name: str, archive_or_folder: str | Path, out: str | Path | None = None) -> Path:
    """Unpack a downloaded archive (or use an unpacked folder), find and check the root.

    Args:
        name: ``sports100``, ``sports_balls`` or ``workout``.
        archive_or_folder: a zip/tar file, or a folder (e.g. what kagglehub wrote).
        out: where an archive is unpacked (new or empty folder); default: beside the
            archive, named after it. For a folder, ``out`` must be None or the folder
            itself: the folder is used in place (archives inside it are unpacked beside
            themselves), never copied.

    Returns:
        The absolute dataset root, checked by the dataset's reader.
    """
    return _prepare_local(name, archive_or_folder, out)[0]


def _prepare_local(
    name: str, archive_or_folder: str | Path, out: str | Path | None
) -> tuple[Path, IndexTable]:
    dataset = dataset_info(name)
    source = Path(archive_or_folder).expanduser().resolve()
    if not source.exists():
        raise DownloadError(f"{source} does not exist; pass the downloaded archive or folder")
    if source.is_dir():
        if out is not None and Path(out).expanduser().resolve() != source:
            raise DownloadError(
                f"{source} is a folder: it is used in place; leave out --out (or pass the "
                "same folder)"
            )
        base = source
    else:
        if not is_archive(source):
            raise DownloadError(
                f"{source} is neither a folder nor an archive ({', '.join(ARCHIVE_SUFFIXES)}); "
                f"download the dataset archive from {dataset.kaggle.url}"
            )
        base = Path(out).expanduser().resolve() if out else source.parent / _archive_stem(source)
        if base.is_file() or (base.is_dir() and any(base.iterdir())):
            raise DownloadError(
                f"--out {base} exists and is not an empty folder; choose a new folder"
            )
        log.info("Unpacking %s into %s", source, base)
        extract_archive(source, base)
    unpack_nested_archives(base)
    return locate_and_check(dataset.name, base)


# ----------------------------------------------------------------------------- command line
def describe(table: IndexTable) -> str:
    """The reader's summary and notes, as the command prints them."""
    lines = [f"Layout check passed: {table.summary()}"]
    lines += [f"  note: {note}" for note in table.notes]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> Path:
    """Carry out the parsed command; returns the dataset root."""
    if args.from_archive:
        root, table = _prepare_local(args.dataset, args.from_archive, args.out)
    else:
        root, table = _download(args.dataset, args.out, args.timeout)
    print(describe(table))
    print(f"data.root={root}")
    return root


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sports_rec.download",
        description=(
            "Download a Kaggle dataset with kagglehub (or unpack one downloaded in a "
            "browser), check its layout and print the data.root=... override to train on it."
        ),
    )
    parser.add_argument("dataset", choices=sorted(DATASETS), help="dataset to fetch")
    parser.add_argument(
        "--out",
        help="folder to download or unpack into (new or empty); required without --from-archive",
    )
    parser.add_argument(
        "--from-archive",
        metavar="PATH",
        help="use this downloaded zip/tar (or unpacked folder) instead of downloading",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=REACHABILITY_TIMEOUT_S,
        help="seconds to wait for Kaggle to answer before calling the machine offline",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not args.from_archive and not args.out:
        parser.error("--out DIR is required when downloading (or pass --from-archive PATH)")
    try:
        run(args)
    except SportsRecError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
