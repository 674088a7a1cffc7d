#!/usr/bin/env python3
"""Produce values v0 .. v<COUNT-1> to TOPIC with an idempotent producer
(acks=all, retries on), and exit 0 only if every record was delivered.

usage: produce_idempotent.py BOOTSTRAP TOPIC COUNT
"""
import sys

import confluent_kafka as ck


def main():
    bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    p = ck.Producer({
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "message.timeout.ms": 30000,
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 200,
    })
    failed = []

    def report(err, msg):
        if err is not None:
            failed.append(str(err))

    for i in range(count):
        p.produce(topic, value=("v%d" % i).encode(), on_delivery=report)
        if i % 100 == 99:
            p.poll(0)
    left = p.flush(60)
    if failed or left:
        sys.stderr.write("failed: %d, undelivered: %d, first error: %s\n"
                         % (len(failed), left, failed[:1]))
        sys.exit(1)


if __name__ == "__main__":
    main()
