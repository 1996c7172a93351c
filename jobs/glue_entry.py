"""Glue entry point: runs one ``orders-pipeline`` command from Glue job parameters.

Glue passes a job's parameters as ``--key value`` pairs next to its own (``--JOB_ID``,
``--JOB_NAME``, ``--TempDir``, ...), holds them in a map (one value per key, so no repeated
``--set``) and reserves ``--conf`` for Spark settings. This script therefore takes:

- ``--pipeline-command``: ``stream`` or ``batch NAME`` (kpis, forecast, maintenance, stalled, ...);
- ``--pipeline-settings``: the settings file, ``s3://bucket/key`` (downloaded first) or a local path;
- ``--pipeline-overrides``: a JSON object of ``dotted.key`` -> value, applied like ``--set``;
- ``--pipeline-trigger``: for ``stream``, e.g. ``available-now``.

Glue 6 job definition (the CloudFormation template of ``orders-pipeline package`` declares these)::

    Command: {Name: gluestreaming, ScriptLocation: s3://ARTIFACTS/orders-pipeline/0.1.0/jobs/glue_entry.py}
    DefaultArguments:
      --additional-python-modules: s3://ARTIFACTS/.../orders_pipeline-0.1.0-py3-none-any.whl,<pins>
      --pipeline-command: stream
      --pipeline-settings: s3://ARTIFACTS/orders-pipeline/0.1.0/conf/glue.yaml
      --pipeline-overrides: '{"lake.root": "s3://LAKE/lake", "source.stream": "orders-events"}'

With spark-submit use the job scripts themselves (``jobs/stream.py --conf ... --set ...``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path


class GlueArgumentsError(ValueError):
    """The Glue job parameters do not name a command, or the overrides are not a JSON object."""


def _settings_file(location: str) -> str:
    """A local path of the settings file, downloading it first when it is on S3."""
    if not location.startswith("s3://"):
        return location
    from pipelines.aws.clients import client

    bucket, _, key = location[len("s3://") :].partition("/")
    if not bucket or not key:
        raise GlueArgumentsError(f"--pipeline-settings {location!r} is not s3://bucket/key")
    target = Path(tempfile.mkdtemp(prefix="orders-settings-")) / Path(key).name
    client("s3").download_file(bucket, key, str(target))
    return str(target)


def cli_arguments(argv: Sequence[str]) -> list[str]:
    """The ``orders-pipeline`` arguments that Glue's ``argv`` stands for; Glue's own parameters are ignored."""
    parser = argparse.ArgumentParser(prog="glue_entry", add_help=False)
    parser.add_argument("--pipeline-command", required=True)
    parser.add_argument("--pipeline-settings")
    parser.add_argument("--pipeline-overrides", default="{}")
    parser.add_argument("--pipeline-trigger")
    args, _glue_own = parser.parse_known_args(argv)
    command = args.pipeline_command.split()
    if not command or command[0] not in ("stream", "batch") or (command[0] == "batch") != (len(command) == 2):
        raise GlueArgumentsError(f"--pipeline-command must be 'stream' or 'batch NAME', got {args.pipeline_command!r}")
    try:
        overrides = json.loads(args.pipeline_overrides)
    except json.JSONDecodeError as exc:
        raise GlueArgumentsError(f"--pipeline-overrides is not JSON: {exc}") from None
    if not isinstance(overrides, dict):
        raise GlueArgumentsError("--pipeline-overrides must be a JSON object of dotted.key -> value")
    arguments: list[str] = []
    if args.pipeline_settings:
        arguments += ["--conf", _settings_file(args.pipeline_settings)]
    for key, value in overrides.items():
        text = json.dumps(value) if isinstance(value, (dict, list, bool)) or value is None else str(value)
        arguments += ["--set", f"{key}={text}"]
    arguments += command
    if args.pipeline_trigger:
        if command[0] != "stream":
            raise GlueArgumentsError("--pipeline-trigger applies to the stream command only")
        arguments += ["--trigger", args.pipeline_trigger]
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    """Glue entry point: translate the job parameters and run the command; its exit code fails the run."""
    from pipelines.cli import main as cli_main

    try:
        arguments = cli_arguments(sys.argv[1:] if argv is None else argv)
    except GlueArgumentsError as exc:
        print(f"glue_entry: {exc}", file=sys.stderr)
        return 2
    return cli_main(arguments)


if __name__ == "__main__":
    sys.exit(main())
