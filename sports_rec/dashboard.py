"""A W&B workspace comparing the runs of one study, grouped by model.

``python -m sports_rec.dashboard project=P study=S [entity=E] [name=N] [timeout=SECONDS]
[runs=DIR[,DIR...]] [out=DIR]``

The workspace shows the runs tagged ``study:<S>`` (tags set by
:func:`sports_rec.utils.run_identity.run_tags`), grouped by the model
(``config.choices.model``, logged by :func:`~sports_rec.callbacks.wandb_test_logs.
logged_config`; runs sharing a model are averaged, e.g. over seeds): bar charts of test
accuracy and mean class accuracy, and the train/val accuracy and loss curves per epoch.

Saving needs W&B online. The API key and W&B's reachability are checked first, locally or
within a short timeout, so an offline machine gets one clear message in seconds (status 1,
no traceback). It does not leave empty-handed: before failing, the command writes into
``out`` (default ``dashboard_offline/<S>``) the workspace it would save
(``workspace.json``) and the same comparison as a local report (``report.html`` ...,
with a by-model table) of the study's runs found under ``runs`` (default ``logs/train``
and ``multirun/train``), and prints the one command that saves the workspace once online
(:mod:`sports_rec.reporting.across_runs.offline_dashboard`). Runs logged offline are
uploaded first with ``wandb sync``; the command names their folders.
"""

from __future__ import annotations

import json
import netrc
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from sports_rec.errors import SportsRecError

if TYPE_CHECKING:
    import wandb_workspaces.workspaces as ws

DEFAULT_BASE_URL = "https://api.wandb.ai"
REACHABILITY_TIMEOUT_S = 5.0
GROUP_KEY = "choices.model"  # config key the runs are grouped by
TEST_METRICS: tuple[tuple[str, str], ...] = (
    ("test/acc", "Test accuracy"),
    ("test/mean_class_acc", "Test mean class accuracy"),
)
CURVES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Accuracy", ("train/acc", "val/acc")),
    ("Loss", ("train/loss", "val/loss")),
    ("Mean class accuracy", ("train/mean_class_acc", "val/mean_class_acc")),
)
ARGUMENTS = {
    "project": "W&B project holding the runs (required)",
    "study": "study name, as in the runs' 'study:<name>' tag (required)",
    "entity": "W&B user or team (default: WANDB_ENTITY, else the API key's default entity)",
    "name": "workspace name (default: '<study>: models compared')",
    "timeout": f"seconds to wait for W&B before giving up ({REACHABILITY_TIMEOUT_S:g})",
    "runs": "offline: run/sweep folders to compare, comma-separated "
    "(default: logs/train,multirun/train)",
    "out": "offline: folder for workspace.json and the report (default: dashboard_offline/<study>)",
}
REQUIRED = ("project", "study")
#: The arguments that describe the workspace (what the command to save it repeats).
WORKSPACE_ARGUMENTS = ("project", "study", "entity", "name", "timeout")
USAGE = (
    "usage: python -m sports_rec.dashboard project=P study=S [entity=E] [name=N] [timeout=S] "
    "[runs=DIR[,DIR...]] [out=DIR]"
)
#: The entity recorded in an offline spec when none is known (no entity=, no WANDB_ENTITY).
ENTITY_PLACEHOLDER = "<your W&B entity>"


class DashboardError(SportsRecError, RuntimeError):
    """The workspace could not be built or saved; the message says why and what to do."""


class WandbCredentialsError(DashboardError):
    """No W&B API key where wandb looks for one."""


class WandbUnreachableError(DashboardError):
    """The W&B server cannot be reached (offline, DNS, proxy, firewall)."""


def parse_arguments(argv: Sequence[str]) -> dict[str, str]:
    """``key=value`` arguments (Hydra style) checked against :data:`ARGUMENTS`."""
    values: dict[str, str] = {}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or not value:
            raise DashboardError(f"argument {arg!r} is not key=value\n{USAGE}")
        if key not in ARGUMENTS:
            raise DashboardError(f"unknown argument {key!r}; accepted: {', '.join(ARGUMENTS)}")
        values[key] = value
    missing = [k for k in REQUIRED if k not in values]
    if missing:
        raise DashboardError(f"missing {', '.join(f'{k}=...' for k in missing)}\n{USAGE}")
    if "timeout" in values:
        try:
            float(values["timeout"])
        except ValueError:
            raise DashboardError(f"timeout={values['timeout']!r} is not a number") from None
    return values


def run_folders(value: str | None) -> list[Path] | None:
    """``runs=a,b`` (or Hydra's ``[a,b]``) as paths; None when not given."""
    if value is None:
        return None
    return [Path(part.strip()) for part in value.strip("[]").split(",") if part.strip()]


def known_entity(entity: str | None) -> str | None:
    """The entity given, else ``WANDB_ENTITY`` (where wandb logs the runs), else None."""
    return entity or os.environ.get("WANDB_ENTITY") or None


def base_url() -> str:
    """The W&B server wandb talks to (``WANDB_BASE_URL``, default the public cloud)."""
    return os.environ.get("WANDB_BASE_URL", DEFAULT_BASE_URL).rstrip("/")


def check_api_key(url: str) -> None:
    """Fail unless an API key is set (``WANDB_API_KEY``) or stored by ``wandb login``
    (the netrc entry of the server's host, as wandb writes it)."""
    if os.environ.get("WANDB_API_KEY"):
        return
    host = urlparse(url).hostname or url
    try:
        stored = netrc.netrc(os.environ.get("NETRC")).authenticators(host)
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        stored = None
    if stored is None:
        raise WandbCredentialsError(
            f"no W&B API key for {host}: set WANDB_API_KEY, or run `wandb login` (it stores "
            "the key in ~/.netrc). Get the key at https://wandb.ai/authorize."
        )


def check_reachable(url: str, timeout: float = REACHABILITY_TIMEOUT_S) -> None:
    """Fail within ``timeout`` seconds unless the W&B server answers at all (any HTTP
    status proves the path; the environment's proxy settings are used, as wandb does)."""
    import requests

    with requests.Session() as session:
        try:
            session.head(url, timeout=timeout, allow_redirects=False)
        except requests.exceptions.RequestException as error:
            proxy = requests.utils.get_environ_proxies(url).get(urlparse(url).scheme)
            via = f" through the proxy {proxy}" if proxy else ""
            raise WandbUnreachableError(
                f"cannot reach W&B at {url}{via} ({type(error).__name__}): this machine has "
                "no network access to W&B. Copy the runs' wandb/ folders to a machine that "
                "has, upload them with `wandb sync <run>/wandb/offline-run-*`, and create "
                "the dashboard there."
            ) from None


def build_workspace(project: str, entity: str, study: str, name: str | None = None) -> ws.Workspace:
    """The workspace (not saved): the study's runs grouped by model, test bars and curves."""
    import wandb_workspaces.reports.v2 as wr
    import wandb_workspaces.workspaces as ws

    from sports_rec.utils.run_identity import study_tag

    test_panels = [
        wr.BarPlot(
            title=title,
            metrics=[metric],
            groupby_aggfunc="mean",
            groupby_rangefunc="stddev",
        )
        for metric, title in TEST_METRICS
    ]
    curve_panels = [
        wr.LinePlot(
            title=title,
            x="epoch",
            y=list(metrics),
            groupby_aggfunc="mean",
            groupby_rangefunc="stddev",
        )
        for title, metrics in CURVES
    ]
    return ws.Workspace(
        entity=entity,
        project=project,
        name=name or f"{study}: models compared",
        sections=[
            ws.Section(name="Test", panels=test_panels, is_open=True),
            ws.Section(name="Training curves", panels=curve_panels, is_open=True),
        ],
        runset_settings=ws.RunsetSettings(
            filters=[ws.Tags().isin([study_tag(study)])],
            groupby=[ws.Config(GROUP_KEY)],
            order=[ws.Ordering(ws.Summary(TEST_METRICS[0][0]), ascending=False)],
            pinned_columns=[f"summary:{metric}" for metric, _ in TEST_METRICS],
        ),
    )


def create_dashboard(
    project: str,
    study: str,
    entity: str | None = None,
    name: str | None = None,
    timeout: float = REACHABILITY_TIMEOUT_S,
) -> str:
    """Check access, build and save the workspace; returns its URL."""
    url = base_url()
    check_api_key(url)
    check_reachable(url, timeout)
    import wandb

    try:
        entity = known_entity(entity) or wandb.Api(timeout=int(max(timeout, 1))).default_entity
        if not entity:
            raise DashboardError("the API key has no default entity; pass entity=<team or user>")
        workspace = build_workspace(project, entity, study, name).save()
    except (wandb.errors.Error, OSError) as error:
        raise DashboardError(
            f"W&B refused or failed the request ({type(error).__name__}: {error}); check "
            f"the API key, entity={entity!r} and project={project!r}"
        ) from None
    return str(workspace.url)


def workspace_view(workspace: ws.Workspace) -> dict:
    """The workspace as the JSON that saving it sends (wandb-workspaces' view model)."""
    return json.loads(workspace._to_model().model_dump_json(by_alias=True, exclude_none=True))


def save_command(values: Mapping[str, str]) -> str:
    """The one command line that saves the workspace described by ``values``."""
    args = [f"{key}={values[key]}" for key in WORKSPACE_ARGUMENTS if values.get(key)]
    return shlex.join(["python", "-m", "sports_rec.dashboard", *args])


def write_offline(values: Mapping[str, str]) -> None:
    """Where W&B cannot be used: write the workspace spec and the same comparison of the
    local runs into ``out`` and print what was written and the command that saves the
    workspace once online. The entity is the one given or ``WANDB_ENTITY``, else a
    placeholder that the saved workspace replaces with the API key's default entity."""
    from sports_rec.reporting.across_runs.offline_dashboard import (
        default_out,
        summary_lines,
        write_offline_dashboard,
    )

    study, entity = values["study"], known_entity(values.get("entity"))
    notes = []
    if entity is None:
        notes.append(
            f"no entity known offline (no entity=, no WANDB_ENTITY): the spec holds the "
            f"placeholder {ENTITY_PLACEHOLDER!r}; saving uses the API key's default entity, "
            "or add entity=E to the command below."
        )
    workspace = build_workspace(
        values["project"], entity or ENTITY_PLACEHOLDER, study, values.get("name")
    )
    command = save_command({**values, **({"entity": entity} if entity else {})})
    result = write_offline_dashboard(
        view=workspace_view(workspace),
        arguments={
            "project": values["project"],
            "study": study,
            "entity": entity,
            "name": workspace.name,
        },
        notes=notes,
        save_command=command,
        study=study,
        metrics=[metric for metric, _ in TEST_METRICS],
        roots=run_folders(values.get("runs")),
        out=Path(values.get("out") or default_out(study)),
    )
    for line in summary_lines(result, study, notes):
        print(line)
    print("Save the workspace once online (from any folder):")
    print(command, flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in {"-h", "--help"}:
        print(USAGE)
        for key, text in ARGUMENTS.items():
            print(f"  {key:8} {text}")
        return
    values: dict[str, str] = {}
    try:
        values = parse_arguments(args)
        link = create_dashboard(
            values["project"],
            values["study"],
            values.get("entity"),
            values.get("name"),
            float(values.get("timeout", REACHABILITY_TIMEOUT_S)),
        )
    except (WandbCredentialsError, WandbUnreachableError) as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        try:
            write_offline(values)
        except SportsRecError as offline_error:
            print(f"error: the offline copy failed: {offline_error}", file=sys.stderr)
        sys.exit(1)
    except SportsRecError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    print(f"Workspace: {link}")


if __name__ == "__main__":
    main()
