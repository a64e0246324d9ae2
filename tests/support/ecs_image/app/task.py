"""The test image's one program (``python /app/task.py STEP...``): each step does one thing a test checks.

    say TEXT        print TEXT
    env NAME        print NAME=<value of NAME>
    sleep S         sleep S seconds
    exit N          exit with N
    graceful        on SIGTERM print "got SIGTERM" and exit 0
    stubborn        ignore SIGTERM (print "ignoring SIGTERM")
    aws             with an unmodified boto3: who am I (credentials endpoint), the task's metadata, S3 buckets
    ready           print "ready"
    hog MB          hold MB mebibytes of memory (print "allocated")
    crash-when P    wait until file P exists; the one task that removes it exits with 1 (a crash)
"""

import json
import os
import signal
import sys
import time
import urllib.request


def main(args):
    i = 0
    while i < len(args):
        step = args[i]
        if step == "say":
            print(args[i + 1], flush=True)
            i += 1
        elif step == "env":
            print(f"{args[i + 1]}={os.environ.get(args[i + 1], '')}", flush=True)
            i += 1
        elif step == "sleep":
            time.sleep(float(args[i + 1]))
            i += 1
        elif step == "exit":
            sys.exit(int(args[i + 1]))
        elif step == "graceful":
            def bye(*_):
                print("got SIGTERM", flush=True)
                sys.exit(0)
            signal.signal(signal.SIGTERM, bye)
        elif step == "stubborn":
            signal.signal(signal.SIGTERM, lambda *_: print("ignoring SIGTERM", flush=True))
        elif step == "hog":
            held = bytearray(int(args[i + 1]) * 1024 * 1024)
            print(f"allocated {len(held)}", flush=True)
            i += 1
        elif step == "crash-when":
            while True:
                try:
                    os.remove(args[i + 1])
                except FileNotFoundError:
                    time.sleep(0.1)
                    continue
                print("crashing", flush=True)
                sys.exit(1)
        elif step == "ready":
            print("ready", flush=True)
        elif step == "aws":
            import boto3
            session = boto3.session.Session()
            creds = session.get_credentials()
            print(f"credentials from {creds.method}", flush=True)
            print(f"account {boto3.client('sts').get_caller_identity()['Account']}", flush=True)
            with urllib.request.urlopen(os.environ["ECS_CONTAINER_METADATA_URI_V4"] + "/task") as r:
                task = json.loads(r.read())
            with urllib.request.urlopen(os.environ["ECS_CONTAINER_METADATA_URI_V4"]) as r:
                me = json.loads(r.read())
            print(f"metadata {task['TaskARN']} {task['Family']} {me['Name']}", flush=True)
            print(f"buckets {[b['Name'] for b in boto3.client('s3').list_buckets()['Buckets']]}", flush=True)
        else:
            print(f"unknown step {step}", file=sys.stderr, flush=True)
            sys.exit(2)
        i += 1


if __name__ == "__main__":
    main(sys.argv[1:])
