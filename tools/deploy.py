#!/usr/bin/env python3
"""Runs `sam deploy` for `make deploy`, after `sam build`.

The first run (no samconfig.toml yet) is guided: SAM asks for the stack name, region and
parameters and writes samconfig.toml. Later runs are not guided and save what they used
back to samconfig.toml (--save-params).

Parameter overrides are merged, later wins: samconfig.toml's, then what the merchant
config decides, then KEY=VALUE arguments (make deploy PARAMS="Stage=prod ...").

The merchant config decides ConfigurationSetName: the stack creates the SES configuration
set and the functions send through the one named by [email] configuration_set, so the two
must be the same name. A missing configuration_set, or a PARAMS value that differs, stops
the deploy before anything changes. A sender_email outside SenderIdentity stops it too
(IAM would refuse every send). A links.base_url that is still local is a warning: the
API's URL is known only after the first deploy (the LinksUrl output).

Usage: tools/deploy.py --config CONFIG [--samconfig samconfig.toml] [--dry-run] [KEY=VALUE ...]
"""

import argparse
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

BUILT_TEMPLATE = ".aws-sam/build/template.yaml"


class DeployError(Exception):
    pass


def parse_overrides(raw) -> dict:
    """samconfig's parameter_overrides: a string `K="v" K2="v2"` or a list of `K=v`."""
    if raw is None:
        return {}
    items = raw if isinstance(raw, list) else shlex.split(raw)
    out = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if not sep or not key:
            raise DeployError(f"samconfig.toml: parameter override {item!r} is not KEY=VALUE")
        out[key] = value
    return out


def samconfig_overrides(path: Path) -> dict:
    if not path.is_file():
        return {}
    with path.open("rb") as f:
        data = tomllib.load(f)
    params = data.get("default", {}).get("deploy", {}).get("parameters", {})
    return parse_overrides(params.get("parameter_overrides"))


def sender_covered(sender: str, identity: str) -> bool:
    """Whether SES sends `sender` as `identity` (the address itself, or its domain)."""
    sender, identity = sender.lower(), identity.lower()
    if "@" in identity:
        return sender == identity
    domain = sender.rpartition("@")[2]
    return domain == identity


def plan(config: dict, saved: dict, args: dict) -> tuple[dict, list[str]]:
    """The merged overrides and the warnings; raises DeployError when deploying is wrong."""
    warnings = []
    config_set = (config.get("email") or {}).get("configuration_set")
    if not config_set:
        raise DeployError(
            "the config has no [email] configuration_set. Fix: add `configuration_set = "
            "\"aftercart\"` under [email]: the stack creates that SES configuration set, and "
            "its event destination feeds mail-events (bounces, complaints)"
        )
    if "ConfigurationSetName" in args and args["ConfigurationSetName"] != config_set:
        raise DeployError(
            f"PARAMS sets ConfigurationSetName={args['ConfigurationSetName']} but the config's "
            f"[email] configuration_set is {config_set!r}. Fix: change the config, not PARAMS"
        )
    merged = {**saved, "ConfigurationSetName": config_set, **args}

    identity = merged.get("SenderIdentity")
    if identity:
        for i, shop in enumerate(config.get("shop") or []):
            sender = shop.get("sender_email")
            if sender and not sender_covered(sender, identity):
                raise DeployError(
                    f"shop[{i}] ({shop.get('domain')}): sender_email is not under "
                    f"SenderIdentity {identity}, so SES would refuse every send. Fix: use an "
                    f"address @{identity}, or deploy with SenderIdentity set to the verified "
                    "identity that covers it"
                )

    base_url = (config.get("links") or {}).get("base_url", "")
    if not base_url.startswith("https://"):
        warnings.append(
            f"[links] base_url is {base_url!r}: customer links in emails would not work. "
            "After this deploy, set it to the LinksUrl output (or a custom domain) and run "
            "`make deploy` again"
        )
    if merged.get("Stage") == "prod" and (config.get("email") or {}).get("dev_mode"):
        warnings.append("[email] dev_mode = true sends follow-ups for test orders in production")
    return merged, warnings


def sam_command(samconfig: Path, merged: dict) -> list[str]:
    sam = shutil.which("sam")
    if not sam:
        raise DeployError("sam is not on PATH. Fix: run `make deploy` (it uses .venv/bin/sam)")
    cmd = [sam, "deploy", "--template-file", BUILT_TEMPLATE, "--config-file", str(samconfig.resolve())]
    if samconfig.is_file():
        cmd += ["--no-fail-on-empty-changeset", "--save-params"]
    else:
        cmd += ["--guided", "--capabilities", "CAPABILITY_IAM"]
    cmd += ["--parameter-overrides"] + [f"{k}={v}" for k, v in merged.items()]
    return cmd


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--samconfig", type=Path, default=Path("samconfig.toml"))
    parser.add_argument("--dry-run", action="store_true", help="print the sam command, run nothing")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    args = parser.parse_args()
    try:
        with args.config.open("rb") as f:
            config = tomllib.load(f)
        cli = parse_overrides(args.overrides)
        merged, warnings = plan(config, samconfig_overrides(args.samconfig), cli)
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
        if not args.dry_run and not Path(BUILT_TEMPLATE).is_file():
            raise DeployError(f"{BUILT_TEMPLATE} is missing. Fix: run `make deploy` (it runs sam build first)")
        cmd = sam_command(args.samconfig, merged)
    except (DeployError, OSError, tomllib.TOMLDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print("+ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    if args.dry_run:
        return 0
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
