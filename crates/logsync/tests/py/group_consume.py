#!/usr/bin/env python3
"""Run N consumers of one group on TOPIC until together they have consumed
MAX records (or nothing arrives for 10 s); each record is committed
synchronously and counted only if the commit succeeded (a commit can fail
with a rebalance under way: the record then comes again to whoever owns its
partition next). Nothing is counted until every consumer has partitions, so
the join of the later consumers does not move partitions under records
already counted. Prints "<consumer> <value>" per record on stdout and
"<consumer> assigned <n>" per assignment on stderr.

usage: group_consume.py BOOTSTRAP TOPIC GROUP N MAX [ASSIGNOR]
"""
import sys
import threading
import time

import confluent_kafka as ck


def main():
    bootstrap, topic, group = sys.argv[1], sys.argv[2], sys.argv[3]
    n, limit = int(sys.argv[4]), int(sys.argv[5])
    assignor = sys.argv[6] if len(sys.argv) > 6 else "range"
    lock = threading.Lock()
    state = {"count": 0, "last": time.time()}
    # Partitions each consumer holds, kept by the rebalance callbacks: an
    # eager assignor hands out (and revokes) the whole assignment, an
    # incremental one only what changes.
    held = [0] * n
    incremental = assignor == "cooperative-sticky"
    out = []
    consumers = []
    for i in range(n):
        c = ck.Consumer({
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": assignor,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
        })

        def on_assign(consumer, parts, i=i):
            with lock:
                if incremental:
                    held[i] += len(parts)
                else:
                    held[i] = len(parts)
            sys.stderr.write("%d assigned %d\n" % (i, len(parts)))
            sys.stderr.flush()

        def on_revoke(consumer, parts, i=i):
            with lock:
                if incremental:
                    held[i] -= len(parts)
                else:
                    held[i] = 0

        c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
        consumers.append(c)

    def run(i, c):
        while True:
            with lock:
                if state["count"] >= limit or time.time() - state["last"] > 10:
                    return
            m = c.poll(0.2)
            if m is None or m.error():
                continue
            with lock:
                if not all(held):
                    # Not yet a stable group: leave the record uncommitted;
                    # the rebalance to come hands it out again.
                    state["last"] = time.time()
                    continue
                if state["count"] >= limit:
                    return
                state["count"] += 1
                state["last"] = time.time()
                line = "%d %s" % (i, m.value().decode())
                out.append(line)
            try:
                c.commit(message=m, asynchronous=False)
            except ck.KafkaException as e:
                with lock:
                    state["count"] -= 1
                    out.remove(line)
                sys.stderr.write("%d commit failed: %s\n" % (i, e))
                sys.stderr.flush()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(consumers)]
    start = time.time()

    def phase(what):
        # On stderr, so that a run the test has to kill shows where it stopped.
        sys.stderr.write("%.2fs %s\n" % (time.time() - start, what))
        sys.stderr.flush()

    for t in threads:
        t.start()
    for t in threads:
        t.join()
    phase("consumed %d" % state["count"])
    for i, c in enumerate(consumers):
        c.close()
        phase("consumer %d closed" % i)
    sys.stdout.write("".join(line + "\n" for line in out))


if __name__ == "__main__":
    main()
