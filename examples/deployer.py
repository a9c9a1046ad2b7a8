"""A deployer that follows the production version of one model and "deploys"
each new one (prints it), the way a serving system reloads its model. It
watches instead of polling: changes arrive as they happen, and while the
registry is down the watch reconnects by itself and resumes where it left
off. Ctrl-C stops it in every state.

    python examples/deployer.py churn --registry http://127.0.0.1:50051
"""

from __future__ import annotations

import argparse
import sys

from modelreg_client import ModelRegistryError, RegistryClient


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="the model to follow, e.g. churn")
    parser.add_argument("--registry", default=None, help="registry URL (default: $MODEL_REGISTRY_URL)")
    parser.add_argument("--alias", default="production", help="the alias to follow")
    parser.add_argument("--max-updates", type=int, default=0, help="stop after this many updates (0: never)")
    args = parser.parse_args()
    try:
        with RegistryClient(args.registry) as registry:
            print(f"following {args.model}@{args.alias}", flush=True)
            for count, update in enumerate(registry.watch_alias(args.model, args.alias), start=1):
                version = update.model_version
                if version is None:
                    print(f"no {args.alias} version of {args.model}", flush=True)
                else:
                    print(
                        f"now serving {args.model} version {version.version} ({version.algorithm}) "
                        f"from {version.artifact.uri} sha256={version.artifact.sha256}",
                        flush=True,
                    )
                if args.max_updates and count >= args.max_updates:
                    return 0
    except KeyboardInterrupt:
        print("stopping", flush=True)
    except ModelRegistryError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
