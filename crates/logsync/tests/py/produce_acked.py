#!/usr/bin/env python3
"""Produce values v0, v1, ... to TOPIC with acks=all and no retries, and print
"ACK <value>" for each delivery the broker acknowledged, flushed line by line
(the broker may be killed at any moment; the test reads what was acked).

usage: produce_acked.py BOOTSTRAP TOPIC COUNT
"""
import sys

import confluent_kafka as ck


def main():
    bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    p = ck.Producer({
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": False,
        # No retries: a record is either acknowledged once or reported failed,
        # never sent twice by the client.
        "retries": 0,
        "linger.ms": 2,
        "message.timeout.ms": 5000,
        "socket.timeout.ms": 3000,
        "reconnect.backoff.max.ms": 200,
    })
    failed = 0

    def report(err, msg):
        nonlocal failed
        if err is None:
            sys.stdout.write("ACK %s\n" % msg.value().decode())
            sys.stdout.flush()
        else:
            failed += 1

    for i in range(count):
        while True:
            try:
                p.produce(topic, value=("v%d" % i).encode(), on_delivery=report)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    p.flush(15)
    sys.stderr.write("failed deliveries: %d\n" % failed)


if __name__ == "__main__":
    main()
