"""The container's ``/app/manage.py``: what the article's Django ``manage.py <command> que_id -r receipt_handle``
does, without Django (the command's steps are ``task_app.import_csv``, beside this image folder).

    python /app/manage.py import_csv QUE_ID -r RECEIPT_HANDLE

tsunagi runs it for the ECS task: the image ``seed003-app`` is this folder (``tsunagi serve --ecs-image
seed003-app=examples/003-fifo-long-task/image``), so ``/app/manage.py`` is this file.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # examples/003-fifo-long-task

import task_app  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(prog="manage.py")
    parser.add_argument("command", help="the management command (the article's [実行コマンド])")
    parser.add_argument("que_id", nargs="+", type=str)
    parser.add_argument("-r", "--receipt-handle", nargs="*", dest="receipt_handle")
    args = parser.parse_args()
    receipt_handle = args.receipt_handle[0] if args.receipt_handle else None
    outcome = task_app.import_csv(int(args.que_id[0]), receipt_handle)
    return 0 if outcome in ("imported", "missing", "done-before", "skipped") else 1


if __name__ == "__main__":
    sys.exit(main())
